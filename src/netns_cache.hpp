// netns_cache.hpp - per-network-namespace state of the UDP path, keyed by the namespace of the
// *socket being connected* (SO_NETNS_COOKIE), never by the caller's:
//   - pools of netlink sockets (NETLINK_SOCK_DIAG, NETLINK_ROUTE) created in that namespace,
//     connected to the kernel, CLOEXEC, with a receive timeout; each used by one thread at a time;
//   - ip_local_port_range and ip_local_reserved_ports of that namespace, kept open and pread()
//     whenever a call needs them (see connect_search), re-parsed only when their text changed;
//   - whether udp_diag has answered an exact lookup of a socket of our own there;
//   - per-destination hints of which source ports are taken (see port_hint).
//
// Why the socket's namespace: a netlink socket answers for the namespace it was created in and
// /proc/sys/net shows the opener's. When the calling thread is in another namespace than the
// socket (it setns()ed, or got the fd from elsewhere), the state is created by entering the
// socket's namespace for the duration of the open (ioctl SIOCGSKNS + setns, then back): that
// needs CAP_SYS_ADMIN, and without it the call fails closed with the errno of that step (EPERM).
// Once created the state serves any thread, wherever it is.
//
// Fork: a child must never talk over its parent's netlink sockets (replies would be stolen or
// cross-wired). A pthread_atfork child handler marks the registry; the child's first call drops
// everything inherited (closing the child's copies of the fds) and starts afresh. (A child made
// by a raw clone(2) or _Fork(), which run no fork handlers, is not detected; it still fails
// closed: a reply the other process takes is missing or names another socket, never "free".)
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "port_range.hpp"
#include "route_lookup.hpp"
#include "udp_port_hints.hpp"

namespace cx::detail {

// --- netlink I/O on a connected socket ------------------------------------------------------
// send(2) of one request: 0 or an errno (a short send is EPROTO).
int nl_send(int fd, const void* buf, size_t len) noexcept;
// recv of one datagram: 0 or an errno. ETIMEDOUT when the receive timeout expires; EPROTO when
// the datagram did not fit (MSG_TRUNC).
int nl_recv(int fd, void* buf, size_t cap, size_t& len) noexcept;

// True when a netlink message header fits in `remaining` bytes and its length covers at least the
// header and at most those bytes. (libmnl's mnl_nlmsg_ok() compares the length as a signed int:
// a length of 2^31 or more passes it, found by fuzzing.)
bool nl_msg_fits(const void* nlh, size_t remaining) noexcept;

// True when the attributes after `offset` bytes of payload tile the message exactly: libmnl's
// iterators stop silently at a bad attribute, a reply validator must not.
bool nl_attrs_ok(const void* nlh, size_t offset) noexcept;

struct nl_socket {
    int fd = -1;
    uint32_t portid = 0;
    uint32_t seq = 0;
};

// Opens a NETLINK_* socket in the calling thread's namespace: CLOEXEC, bound, connected to the
// kernel (so nothing but the kernel can send to it) and with the receive timeout below.
int nl_open(int protocol, nl_socket& out) noexcept;

// The receive timeout of netlink sockets opened from now on (tests shorten it). Default 1000 ms.
void nl_set_timeout_ms(int ms) noexcept;

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
class netns_state;

// Exclusive use of one netlink socket of a namespace. Returned to the pool when the lease ends,
// unless discard() was called: after a timeout or a bad reply the socket may still receive a
// late answer, so it is closed instead of reused.
class nl_lease {
public:
    nl_lease() noexcept = default;
    nl_lease(const nl_lease&) = delete;
    nl_lease& operator=(const nl_lease&) = delete;
    ~nl_lease();
    int fd() const noexcept { return s_.fd; }
    uint32_t portid() const noexcept { return s_.portid; }
    uint32_t next_seq() noexcept { return ++s_.seq; }
    void discard() noexcept;

private:
    friend class netns_state;
    netns_state* owner_ = nullptr;
    int protocol_ = 0;
    nl_socket s_;
};

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
    int lease(int protocol, int sock_fd, nl_lease& out) noexcept;

    // pread()s both sysctls and re-parses what changed since the last call. Call without `mu`
    // held, then read range/reserved under `mu`. 0 or an errno (EPROTO: unparsable content).
    int refresh_sysctls() noexcept;
    // True once refresh_sysctls() has succeeded here: `range` and `reserved` hold values read at
    // some point (maybe stale; see connect_search for when that is enough).
    bool sysctls_known() const noexcept { return sysctls_known_.load(std::memory_order_acquire); }
    // Counts the reads that found either sysctl changed: what was concluded from the old values
    // (say, that every usable port was looked at) is to be concluded again.
    uint64_t sysctl_changes() const noexcept {
        return sysctl_changes_.load(std::memory_order_relaxed);
    }

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
    // What the UDP port search knows of the ports toward each destination (owns its lock).
    udp_port_hints udp_hints;

    // Route answers of this namespace, valid until the routing state changes. The state keeps an
    // rtnetlink socket subscribed to link, address, route, rule and nexthop notifications; the
    // kernel queues a notification before the changing call returns, so draining it first makes
    // a change visible to the very next lookup. route_cached() fills `out` and returns true on a
    // hit; it always sets `gen`, which route_store() needs to refuse an answer that may predate
    // a change seen meanwhile. Without the subscription nothing is cached.
    bool route_cached(const route_query& q, route_answer& out, uint64_t& gen) noexcept;
    void route_store(const route_query& q, const route_answer& a, uint64_t gen) noexcept;

    // Internal (registry): fds to open/close with the state.
    int open_sysctls() noexcept;
    void open_route_monitor() noexcept;  // in the namespace; no cache if it fails
    void forget_after_fork() noexcept;   // close this process's copies; never touch `mu`
    void adopt(int protocol, nl_socket s) noexcept;  // into the pool (or closed if full)
    void drain(int protocol) noexcept;               // close the pooled sockets

private:
    friend class nl_lease;
    void give_back(int protocol, nl_socket s) noexcept;
    static constexpr int kPool = 8;
    struct pool {
        nl_socket s[kPool];
        int n = 0;
    };
    pool& pool_of(int protocol) noexcept;

    const uint64_t cookie_;
    std::atomic<bool> sysctls_known_{false};
    std::atomic<uint64_t> sysctl_changes_{0};
    int range_fd_ = -1;
    int reserved_fd_ = -1;
    std::mutex pool_mu_;
    // Route cache (guarded by route_mu_).
    bool drain_route_monitor() noexcept;  // true when the routing state may have changed
    std::mutex route_mu_;
    int route_monitor_fd_ = -1;
    uint64_t route_gen_ = 1;
    static constexpr int kRoutes = 16;
    struct route_entry {
        route_query q;
        route_answer a;
        bool valid = false;
    } routes_[kRoutes];
    int route_next_ = 0;
    pool diag_, route_;
    std::string range_text_, reserved_text_;  // guarded by mu
    // Destinations with a hint. A program that rotates over more evicts a hint on every call and
    // refreshes it by a dump that walks every UDP socket (round-robin over 40 destinations ran
    // 17x slower with 16). Two 8 KiB bitmaps each, allocated on first use: 1 MiB at most.
    static constexpr int kHints = 64;
    port_hint hints_[kHints];
    uint64_t tick_ = 0;
};

// A counted reference to the state of one namespace.
class netns_ref {
public:
    netns_ref() noexcept = default;
    netns_ref(const netns_ref&) = delete;
    netns_ref& operator=(const netns_ref&) = delete;
    ~netns_ref();
    netns_state* operator->() const noexcept { return s_; }
    netns_state& operator*() const noexcept { return *s_; }
    explicit operator bool() const noexcept { return s_ != nullptr; }

private:
    friend int netns_for_socket(int, netns_ref&) noexcept;
    netns_state* s_ = nullptr;
    bool owned_ = false;  // not in the registry (it was full): deleted with the reference
};

// The state of the namespace socket `fd` lives in, created on first use. 0 or an errno: from
// SO_NETNS_COOKIE, from entering the namespace (EPERM), from opening netlink sockets or sysctls
// (EMFILE, ENFILE, ENOBUFS, ENOMEM, ...). On kernels before 5.14 (no SO_NETNS_COOKIE) the socket
// is assumed to live in the calling thread's namespace.
int netns_for_socket(int fd, netns_ref& out) noexcept;

// The SO_NETNS_COOKIE of socket `fd`: 0 or an errno.
int netns_cookie_of(int fd, uint64_t& cookie) noexcept;

// Test hook: puts `fd` (any connected datagram socket; its peer plays the kernel) in the pool of
// `protocol` of socket `sock_fd`'s namespace, with `portid` as its netlink port id. Takes `fd`.
int netns_test_inject(int sock_fd, int protocol, int fd, uint32_t portid) noexcept;
// Test hook: number of namespaces the registry holds for this process.
int netns_test_count() noexcept;

}  // namespace cx::detail
