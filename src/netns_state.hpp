// netns_state.hpp - the state of one network namespace, keyed by the namespace of the *socket
// being connected* (SO_NETNS_COOKIE; see netns_registry.hpp), a facade over named parts, each
// owning its lock:
//   - nl_pools: netlink sockets (NETLINK_SOCK_DIAG, NETLINK_ROUTE) created in that namespace,
//     lent one thread at a time (lease());
//   - route_cache: route answers until rtnetlink says routing changed;
//   - ip_local_port_range and ip_local_reserved_ports of that namespace, kept open and pread()
//     whenever a call needs them (refresh_sysctls()), re-parsed only when their text changed;
//   - the UDP port search's own state: whether udp_diag has answered, the "alone" backoff and
//     what it knows of the ports toward each destination (udp_port_hints);
//   - the TCP hint of free ports toward busy destinations (tcp_port_hints).
//
// Why the socket's namespace: a netlink socket answers for the namespace it was created in and
// /proc/sys/net shows the opener's. When the calling thread is in another namespace than the
// socket, new netlink sockets are opened inside the socket's namespace (netns_enter.hpp).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "nl_pool.hpp"
#include "port_range.hpp"
#include "route_cache.hpp"
#include "tcp_port_hints.hpp"
#include "udp_port_hints.hpp"

namespace cx::detail {

// --- the per-namespace state -------------------------------------------------------------------
class netns_state {
public:
    explicit netns_state(uint64_t cookie) noexcept : cookie_(cookie) {}
    ~netns_state();
    netns_state(const netns_state&) = delete;
    netns_state& operator=(const netns_state&) = delete;

    uint64_t cookie() const noexcept { return cookie_; }

    // A netlink socket of this namespace (NETLINK_SOCK_DIAG or NETLINK_ROUTE). `sock_fd` is the
    // socket being connected: used only when a new netlink socket must be opened while the
    // calling thread is elsewhere. 0 or an errno.
    [[nodiscard]] int lease(int protocol, int sock_fd, nl_lease& out) noexcept;

    // The route cache of this namespace.
    route_cache& routes() noexcept { return routes_; }

    // pread()s both sysctls and re-parses what changed since the last call. Call without `mu`
    // held, then read range/reserved under `mu` (or through the copies below). 0 or an errno
    // (EPROTO: unparsable content).
    [[nodiscard]] int refresh_sysctls() noexcept;
    // True once refresh_sysctls() has succeeded here: `range` and `reserved` hold values read at
    // some point (maybe stale; see connect_search for when that is enough).
    bool sysctls_known() const noexcept { return sysctls_known_.load(std::memory_order_acquire); }
    // Copies of `range` and `reserved` as last read, taken under `mu`.
    port_span range_copy() noexcept;
    void reserved_copy(reserved_ports& out) noexcept;

    // Counts the reads that found either sysctl changed: what was concluded from the old values
    // (say, that every usable port was looked at) is to be concluded again.
    uint64_t sysctl_changes() const noexcept {
        return sysctl_changes_.load(std::memory_order_relaxed);
    }

    std::mutex mu;  // guards everything below
    port_span range;
    reserved_ports reserved;
    std::atomic<bool> diag_answered{false};  // udp_diag found a socket here at least once
    // A UDP port search binds its first candidate without SO_REUSEADDR when the port may be
    // entirely free (see udp_connect.cpp). Through IP_LOCAL_PORT_RANGE such a bind that fails
    // costs the kernel a walk of its whole UDP hash (~1 ms), so after one the namespace does not
    // try again before `alone_after_ms` (CLOCK_MONOTONIC_COARSE); the wait doubles with
    // `alone_failures` in a row.
    std::atomic<uint64_t> alone_after_ms{0};
    std::atomic<uint32_t> alone_failures{0};
    // What the UDP port search knows of the ports toward each destination (owns its lock).
    udp_port_hints udp_hints;
    // The ports toward this namespace's busiest TCP destinations (owns its lock; tcp_fill.hpp).
    tcp_port_hints tcp_hints;

private:
    friend struct netns_state_setup;  // the registry (netns_registry.cpp) and its test hooks
    [[nodiscard]] int open_sysctls() noexcept;
    // Parses what changed since the last call into range/reserved. Caller holds `mu`.
    [[nodiscard]] int parse_changed_sysctls(std::string_view range_text,
                                            std::string_view reserved_text) noexcept;
    void forget_after_fork() noexcept;  // close nothing, lock nothing: the child handler closed
    nl_pools& pools() noexcept { return pools_; }

    const uint64_t cookie_;
    nl_pools pools_;
    route_cache routes_;
    std::atomic<bool> sysctls_known_{false};
    std::atomic<uint64_t> sysctl_changes_{0};
    int range_fd_ = -1;
    int reserved_fd_ = -1;
    std::string range_text_, reserved_text_;  // guarded by mu
};

}  // namespace cx::detail
