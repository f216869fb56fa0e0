// netns_state.hpp - the state of one network namespace, keyed by the namespace of the *socket
// being connected* (SO_NETNS_COOKIE; see netns_registry.hpp), a facade over named parts, each
// owning its lock:
//   - nl_pools: netlink sockets (NETLINK_SOCK_DIAG, NETLINK_ROUTE) created in that namespace,
//     lent one thread at a time (lease());
//   - route_cache: route answers until rtnetlink says routing changed;
//   - ip_local_port_range and ip_local_reserved_ports of that namespace, kept open and pread()
//     whenever a call needs them (refresh_sysctls()), re-parsed only when their text changed;
//   - the UDP port search's own state: whether udp_diag has answered, the "alone" backoff and
//     per-destination hints of which source ports are taken (see port_hint).
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

namespace cx::detail {

// --- hints for the UDP port search ------------------------------------------------------------
// Which source ports toward one destination are believed taken. Only a hint: the lock and the
// exact lookup decide. `taken` is refreshed wholesale from a filtered SOCK_DIAG dump and updated
// as ports are tried; `blocked` remembers ports whose bind() failed (held by a socket without
// SO_REUSEADDR, which no dump filtered by destination shows) until the search runs dry.
struct port_hint_key {
    uint8_t src[16] = {};
    uint8_t dst[16] = {};
    uint16_t dport = 0;
    uint16_t family = 0;  // of the tuple looked up: AF_INET (also for mapped) or AF_INET6
    uint32_t ifindex = 0;
    friend bool operator==(const port_hint_key&, const port_hint_key&) = default;
};

struct port_hint {
    static constexpr size_t kWords = 65536 / 64;
    port_hint_key key;
    uint64_t last_use = 0;
    uint64_t dumped_at = 0;  // CLOCK_MONOTONIC ms of the last dump into `taken`, 0 = never
    uint32_t picks = 0;      // ports claimed since `taken` was last refreshed or reset
    bool claimed = false;
    std::unique_ptr<uint64_t[]> taken;    // kWords, set = believed taken toward key
    std::unique_ptr<uint64_t[]> blocked;  // kWords, set = bind() failed recently
};

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

    // Finds the hint for `key`, or recycles the least recently used one for it (cleared).
    // Caller holds `mu`. nullptr when its bitmaps cannot be allocated (first use of a slot).
    port_hint* hint(const port_hint_key& key) noexcept;

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
    int range_fd_ = -1;
    int reserved_fd_ = -1;
    std::string range_text_, reserved_text_;  // guarded by mu
    // Destinations with a hint. A program that rotates over more evicts a hint on every call and
    // refreshes it by a dump that walks every UDP socket (round-robin over 40 destinations ran
    // 17x slower with 16). Two 8 KiB bitmaps each, allocated on first use: 1 MiB at most.
    static constexpr int kHints = 64;
    port_hint hints_[kHints];
    uint64_t tick_ = 0;
};

}  // namespace cx::detail
