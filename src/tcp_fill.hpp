// tcp_fill.hpp - TCP flat as the range fills toward one destination.
//
// Why: without IP_LOCAL_PORT_RANGE on the socket the kernel's connect() search first walks the
// ports of the parity of the range's low end, and only when none of them is free the others:
// past half full every connect walks half the range (~9x its cost at low occupancy, measured by
// bench/tcp_fill_bench). With IP_LOCAL_PORT_RANGE set, kernels from 6.8 search in single steps;
// set to [P,P], the kernel checks the one port P.
//
// What: the plain paths (plain connect(), IP_BIND_ADDRESS_NO_PORT + bind + connect) stay as they
// are at low occupancy: nothing is added to them but a look at a process-wide set that is empty
// then (tcp_busy_keys.hpp), and one call in kSampleEvery per thread asks which port it got. A
// port of the other parity shows that the kernel's first pass found nothing: the destination is
// busy. Then a filtered SOCK_DIAG dump of the sockets toward it fills the namespace's hint
// (tcp_port_hints.hpp), and from then on each call toward it sets IP_LOCAL_PORT_RANGE=[P,P] with
// a port P the hint believes free. When the kernel refuses P (EADDRNOTAVAIL from connect(): taken
// by a socket the dump did not see, reserved since, or outside a changed range), the call sets
// the namespace's whole range instead (single steps) and connects once more: a stale hint costs
// one retry and never a wrong failure. connect() after that EADDRNOTAVAIL is allowed: the kernel
// failed before taking a port, and the socket is still unconnected, bound to the source address
// only if it was before. The kernel checks everything it is given, so nothing remembered here can
// make a duplicate 4-tuple or use a reserved port: the sysctls stay live without being read.
//
// The socket's own IP_LOCAL_PORT_RANGE is read before it is set: a caller's range is honoured by
// leaving the call alone (the kernel then searches in single steps anyway), and after a failure
// the option is as the caller had it. After success it stays set, as IP_BIND_ADDRESS_NO_PORT
// does: the socket is connected, and its port chosen.
//
// Kernels before 6.3 have no IP_LOCAL_PORT_RANGE (the first call that asks learns it): the kernel
// searches as always there. Between 6.3 and 6.7 the hint works; the fallback searches in pairs.
#pragma once

#include <cstdint>

#include "netns_registry.hpp"
#include "request.hpp"
#include "udp_port_hints.hpp"  // dest_key

namespace cx::detail {

// One call's use of the hint. apply() before the technique, retry() when its connect() says
// EADDRNOTAVAIL, finish() with the call's result. None of them fails the call: whatever goes
// wrong here leaves the kernel to search as it would have.
class tcp_fill_hint {
public:
    // Every kSampleEvery-th unhinted call of a thread asks the kernel which port it got.
    static constexpr uint32_t kSampleEvery = 16;

    explicit tcp_fill_hint(const request& r) noexcept;
    tcp_fill_hint(const tcp_fill_hint&) = delete;
    tcp_fill_hint& operator=(const tcp_fill_hint&) = delete;

    void apply() noexcept;
    // True when the caller should connect() again: the port given was refused, and the socket
    // now has the namespace's whole range.
    [[nodiscard]] bool retry() noexcept;
    void finish(int e) noexcept;

    // Which of the above happened (tests and benchmarks): the hint gave a port, or the whole
    // range, and connect() was retried.
    bool used() const noexcept { return used_; }
    bool retried() const noexcept { return retried_; }

private:
    void set_key() noexcept;
    void sample() noexcept;
    void learn_port_taken() noexcept;

    const request& r_;
    const bool eligible_;
    dest_key key_;
    uint64_t hash_ = 0;
    netns_ref ns_;
    uint16_t port_ = 0;  // the port given, 0 = the whole range (or nothing)
    uint32_t caller_range_ = 0;
    bool used_ = false;
    bool retried_ = false;
};

}  // namespace cx::detail
