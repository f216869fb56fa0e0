// fd_table.hpp - what the drop-in knows about each file descriptor: the socket's kind as socket()
// created it, the options the program set that change the technique, and a bind it deferred.
// One fixed slot per descriptor number, mapped once (no allocation per call); descriptors past
// the table get no deferred bind and are asked about at connect time instead.
//
// A slot describes the descriptor number, so every call that ends, copies or brings in a
// descriptor (close, close_range, dup*, fcntl(F_DUPFD*), accept*, socket*, recvmsg with
// SCM_RIGHTS, and close/dup made through syscall(2)) clears or copies it: a number reused after
// close never inherits the old socket's state. (Checking the socket's SO_COOKIE at use instead
// would cost two system calls per bind + connect; see docs/preload.md.)
#pragma once

#include <netinet/in.h>

#include <atomic>
#include <cstdint>

namespace cxp {

namespace slot_flag {
inline constexpr uint32_t known = 1u << 0;      // socket() recorded the kind below
inline constexpr uint32_t tcp = 1u << 1;        // SOCK_STREAM, TCP
inline constexpr uint32_t udp = 1u << 2;        // SOCK_DGRAM, UDP
inline constexpr uint32_t inet6 = 1u << 3;      // AF_INET6 (else AF_INET)
inline constexpr uint32_t reuseport = 1u << 4;  // the program set SO_REUSEPORT: hands off
inline constexpr uint32_t reuseaddr = 1u << 5;  // the program set SO_REUSEADDR
inline constexpr uint32_t no_port = 1u << 6;    // the program set IP_BIND_ADDRESS_NO_PORT
inline constexpr uint32_t deferred = 1u << 7;   // bind(ip, 0) deferred (see bind in interpose)
inline constexpr uint32_t bound = 1u << 8;      // holds a port: connect goes to the kernel
inline constexpr uint32_t attempted = 1u << 9;  // TCP: connect issued; later ones go to the kernel
inline constexpr uint32_t pinned = 1u << 10;    // TCP: bound to an explicit port by the program
inline constexpr uint32_t probed = 1u << 11;    // not seen created: kind asked of the kernel
}  // namespace slot_flag

struct fd_slot {
    std::atomic<uint32_t> flags{0};
    // Written before `flags` gains `deferred` (release), read after seeing it (acquire).
    sockaddr_in6 source{};  // an AF_INET source sits in the sockaddr_in prefix
};

// The slot of `fd`, or null when fd is negative or past the table.
fd_slot* slot_of(int fd) noexcept;

// A fresh descriptor: `flags` is what socket() knows (0: nothing).
void slot_reset(int fd, uint32_t flags) noexcept;
// fd was closed: forget it.
void slot_clear(int fd) noexcept;
// Every descriptor in [first, last] was closed.
void slot_clear_range(unsigned first, unsigned last) noexcept;
// `to` now refers to the socket `from` refers to.
void slot_copy(int from, int to) noexcept;

}  // namespace cxp
