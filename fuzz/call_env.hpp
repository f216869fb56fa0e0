// call_env.hpp - the world connectx_call_fuzz runs in: a private network namespace set up once
// (loopback, a second link, a small port range), memory that faults or is reported by ASan on any
// access past an object's last byte, and the process's open-fd count for leak checks.
#pragma once

#include <sys/types.h>

#include <bitset>
#include <cstddef>
#include <cstdint>

namespace cxfuzz {

// The namespace's ip_local_port_range (even-sized: TCP autobind skips the top port of an odd
// one) and its one reserved port, inside the range.
constexpr uint16_t kRangeLo = 40000, kRangeHi = 40007, kReservedPort = 40003;

// Enters a new network namespace and sets it up: lo up with 2001:db8::1/64 besides its usual
// addresses, a second link up with fe80::1/64 (a dummy, or a veth end where the kernel has no
// dummy driver), the port range above. Exits the process with a message if any step fails: the
// fuzzer must never act in the host's namespace. Returns the second link's ifindex.
int enter_private_netns();

// The open file descriptors of this process (those below 4096: it never has more).
using fd_bits = std::bitset<4096>;
fd_bits open_fd_set();
// Prints every open fd and what it refers to, for a leak report.
void print_open_fds();

// One page of read-write memory followed by a PROT_NONE page. place() returns `len` bytes
// (8-byte aligned, as any C struct or sockaddr a caller passes) ending as close to the guard as
// that alignment allows; the bytes before and after them in the page are ASan-poisoned. So an
// access past the object's end faults or is reported, whatever its size.
class guarded_page {
public:
    static constexpr size_t kPage = 4096;
    guarded_page();
    guarded_page(const guarded_page&) = delete;
    guarded_page& operator=(const guarded_page&) = delete;
    uint8_t* place(size_t len);  // len <= kPage; the bytes are zeroed

private:
    uint8_t* base_ = nullptr;
};

}  // namespace cxfuzz
