// netns_cache.cpp - per-namespace state keyed by SO_NETNS_COOKIE: the registry, netlink socket
// pools, sysctl re-reading, port hints, and fork detection.
#include "netns_cache.hpp"

#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <utility>
#include <vector>

#include "owned_fds.hpp"
#include "sys.hpp"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

namespace cx::detail {
namespace {

std::atomic<int> g_timeout_ms{1000};

// A tracked fd (owned_fds.hpp) under construction: closed and forgotten unless released.
class owned_fd {
public:
    explicit owned_fd(int fd) noexcept : fd_(fd) {}
    owned_fd(const owned_fd&) = delete;
    owned_fd& operator=(const owned_fd&) = delete;
    ~owned_fd() { owned_fd_close(fd_); }
    int release() noexcept { return std::exchange(fd_, -1); }

private:
    int fd_;
};

// Enters the network namespace of socket `sock_fd` for the calling thread, and returns to the
// thread's own namespace when destroyed.
class netns_visit {
public:
    int enter(int sock_fd) noexcept {
        unique_fd target(::ioctl(sock_fd, SIOCGSKNS));
        if (!target) return errno;
        home_.reset(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
        if (!home_) return errno;
        if (::setns(target.get(), CLONE_NEWNET) < 0) {
            home_.reset();
            return errno;
        }
        return 0;
    }
    ~netns_visit() {
        // Going home cannot fail for a thread that could leave (same capability, a namespace
        // that its open fd keeps alive).
        if (home_) ::setns(home_.get(), CLONE_NEWNET);
    }

private:
    unique_fd home_;
};

// Runs `open` in the namespace of `sock_fd` whose cookie is `cookie`: first where the thread is;
// if what it opened lives elsewhere, again inside the socket's namespace. `open` returns 0 or an
// errno and reports the fd it made so its namespace can be checked.
template <class F>
int open_in_netns(uint64_t cookie, int sock_fd, F open) {
    int probe_fd = -1;
    if (int e = open(probe_fd)) return e;
    uint64_t got;
    if (cookie == 0 || (netns_cookie_of(probe_fd, got) == 0 && got == cookie)) return 0;
    owned_fd_close(probe_fd);
    netns_visit visit;
    if (int e = visit.enter(sock_fd)) return e;
    return open(probe_fd);
}

struct registry {
    static constexpr int kSlots = 16;
    std::mutex mu;
    netns_state* slots[kSlots] = {};
    int refs[kSlots] = {};
    uint64_t last_use[kSlots] = {};
    uint64_t tick = 0;
    bool forked = false;  // set in a fork child: everything in the slots is the parent's
};
registry g_reg;

// fork() holds the registry's mutex across the fork, so a child sees a consistent registry and
// learns here, for free, that it is a child: no getpid() on every call.
void atfork_prepare() {
    g_reg.mu.lock();
}
void atfork_parent() {
    g_reg.mu.unlock();
}
void atfork_child() {
    // Every netlink socket and file of the parent's, those in other threads' hands included.
    owned_fds_close_all();
    g_reg.forked = true;
    g_reg.mu.unlock();
}

// Drops everything a parent left: its netlink sockets must not be used here, and its mutexes may
// be held by threads that do not exist in this process, so the states are closed, not freed.
void reset_after_fork() {
    for (int i = 0; i < registry::kSlots; ++i) {
        if (g_reg.slots[i]) g_reg.slots[i]->forget_after_fork();
        g_reg.slots[i] = nullptr;
        g_reg.refs[i] = 0;
    }
    g_reg.forked = false;
}

int slot_of(const netns_state* s) {
    for (int i = 0; i < registry::kSlots; ++i)
        if (g_reg.slots[i] == s) return i;
    return -1;
}

}  // namespace

// --- netlink I/O
// ----------------------------------------------------------------------------------

int nl_send(int fd, const void* buf, size_t len) noexcept {
    for (;;) {
        ssize_t n = ::send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno;
        return size_t(n) == len ? 0 : EPROTO;
    }
}

int nl_recv(int fd, void* buf, size_t cap, size_t& len) noexcept {
    len = 0;
    iovec iov{buf, cap};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    for (;;) {
        ssize_t n = ::recvmsg(fd, &msg, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? ETIMEDOUT : errno;
        if (msg.msg_flags & MSG_TRUNC) return EPROTO;
        len = size_t(n);
        return 0;
    }
}

bool nl_msg_fits(const void* msg, size_t remaining) noexcept {
    if (remaining < sizeof(nlmsghdr)) return false;
    uint32_t len;
    std::memcpy(&len, msg, sizeof len);
    return len >= sizeof(nlmsghdr) && len <= remaining;
}

bool nl_attrs_ok(const void* msg, size_t offset) noexcept {
    auto* nlh = static_cast<const nlmsghdr*>(msg);
    auto* p = static_cast<const uint8_t*>(mnl_nlmsg_get_payload_offset(nlh, offset));
    // The message's own end, not libmnl's payload tail: that is nlmsg_len rounded up to 4, which
    // lies past the datagram when nlmsg_len is not a multiple of 4 (found by fuzzing).
    auto* end = reinterpret_cast<const uint8_t*>(nlh) + nlh->nlmsg_len;
    while (p < end) {
        auto* a = reinterpret_cast<const nlattr*>(p);
        if (!mnl_attr_ok(a, int(end - p))) return false;
        p += MNL_ALIGN(a->nla_len);
    }
    return true;
}

void nl_set_timeout_ms(int ms) noexcept {
    g_timeout_ms.store(ms);
}

int nl_open(int protocol, nl_socket& out) noexcept {
    int fd = sys::socket(AF_NETLINK, SOCK_RAW, protocol);
    if (fd < 0) return -fd;
    if (int e = owned_fd_track(fd)) {
        ::close(fd);
        return e;
    }
    owned_fd s(fd);
    int ms = g_timeout_ms.load();
    timeval tv{ms / 1000, (ms % 1000) * 1000};
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) return errno;
    sockaddr_nl local{};
    local.nl_family = AF_NETLINK;  // nl_pid 0: the kernel assigns a port id
    if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) < 0) return errno;
    // Connected to the kernel: a unicast from any other port is refused (ECONNREFUSED to the
    // sender), so only the kernel's replies reach this socket.
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) return errno;
    socklen_t len = sizeof local;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) < 0) return errno;
    uint32_t seed;
    if (::getentropy(&seed, sizeof seed) < 0) seed = uint32_t(::getpid());
    out.fd = s.release();
    out.portid = local.nl_pid;
    out.seq = seed;
    return 0;
}

int netns_cookie_of(int fd, uint64_t& cookie) noexcept {
    return sys::getsockopt_u64(fd, SOL_SOCKET, SO_NETNS_COOKIE, cookie);
}

// --- leases
// ----------------------------------------------------------------------------------------

nl_lease::~nl_lease() {
    if (s_.fd < 0) return;
    if (owner_)
        owner_->give_back(protocol_, s_);
    else
        owned_fd_close(s_.fd);
}

void nl_lease::discard() noexcept {
    owned_fd_close(s_.fd);
    s_ = nl_socket{};
}

// --- the state
// -------------------------------------------------------------------------------------

netns_state::~netns_state() {
    for (pool* p : {&diag_, &route_})
        for (int i = 0; i < p->n; ++i) owned_fd_close(p->s[i].fd);
    owned_fd_close(range_fd_);
    owned_fd_close(reserved_fd_);
    owned_fd_close(route_monitor_fd_);
}

// --- route cache -------------------------------------------------------------------------------

void netns_state::open_route_monitor() noexcept {
    int fd = sys::socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK, NETLINK_ROUTE);
    if (fd < 0) return;
    if (owned_fd_track(fd)) {
        ::close(fd);
        return;
    }
    owned_fd s(fd);
    sockaddr_nl local{};
    local.nl_family = AF_NETLINK;
    local.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV4_RULE |
                      RTMGRP_IPV6_IFADDR | RTMGRP_IPV6_ROUTE | (1u << (RTNLGRP_IPV6_RULE - 1));
    if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) < 0) return;
    int group = RTNLGRP_NEXTHOP;  // beyond the 32-bit mask
    if (::setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) < 0) return;
    route_monitor_fd_ = s.release();
}

bool netns_state::drain_route_monitor() noexcept {
    if (route_monitor_fd_ < 0) return true;
    // Only whether a notification came matters, not what it says: each datagram is taken
    // whole (MSG_TRUNC drops what does not fit) into a few bytes.
    alignas(nlmsghdr) uint8_t buf[sizeof(nlmsghdr)];
    bool changed = false;
    for (;;) {
        ssize_t n = ::recv(route_monitor_fd_, buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC);
        if (n >= 0) {
            changed = true;  // any notification: forget everything (they are rare)
            continue;
        }
        if (errno == EINTR) continue;
        // ENOBUFS: notifications were lost, so anything may have changed.
        if (errno != EAGAIN && errno != EWOULDBLOCK) changed = true;
        if (errno == ENOBUFS) continue;
        return changed;
    }
}

size_t netns_state::route_slot(const route_query& q) noexcept {
    uint64_t h = 1469598103934665603ull;  // FNV-1a over the question's fields
    auto mix = [&](const void* p, size_t n) {
        for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<const uint8_t*>(p)[i]) * 1099511628211ull;
    };
    mix(&q.family, sizeof q.family);
    mix(q.dst, sizeof q.dst);
    mix(q.src, sizeof q.src);
    mix(&q.oif, sizeof q.oif);
    mix(&q.mark, sizeof q.mark);
    mix(&q.uid, sizeof q.uid);
    mix(&q.sport, sizeof q.sport);
    mix(&q.dport, sizeof q.dport);
    mix(&q.protocol, sizeof q.protocol);
    mix(&q.tos, sizeof q.tos);
    return size_t(h % kRoutes);
}

bool netns_state::route_cached(const route_query& q, route_answer& out, uint64_t& gen) noexcept {
    std::lock_guard lock(route_mu_);
    if (drain_route_monitor()) {
        if (routes_)
            for (size_t i = 0; i < kRoutes; ++i) routes_[i].valid = false;
        ++route_gen_;
    }
    gen = route_gen_;
    if (route_monitor_fd_ < 0 || !routes_) return false;
    const route_entry& r = routes_[route_slot(q)];
    if (!r.valid || !(r.q == q)) return false;
    out = r.a;
    return true;
}

void netns_state::route_store(const route_query& q, const route_answer& a, uint64_t gen) noexcept {
    std::lock_guard lock(route_mu_);
    if (drain_route_monitor()) {  // a change since the answer was asked for: keep nothing
        if (routes_)
            for (size_t i = 0; i < kRoutes; ++i) routes_[i].valid = false;
        ++route_gen_;
    }
    if (route_monitor_fd_ < 0 || gen != route_gen_) return;
    if (!routes_) routes_.reset(new (std::nothrow) route_entry[kRoutes]);
    if (!routes_) return;  // no memory: no cache
    routes_[route_slot(q)] = {q, a, true};
}

void netns_state::forget_after_fork() noexcept {
    // The fork child handler has closed them all (owned_fds_close_all): only forget.
    for (pool* p : {&diag_, &route_}) p->n = 0;
    range_fd_ = reserved_fd_ = route_monitor_fd_ = -1;
}

netns_state::pool& netns_state::pool_of(int protocol) noexcept {
    return protocol == NETLINK_ROUTE ? route_ : diag_;
}

int netns_state::lease(int protocol, int sock_fd, nl_lease& out) noexcept {
    out.discard();
    out.owner_ = this;
    out.protocol_ = protocol;
    {
        std::lock_guard lock(pool_mu_);
        pool& p = pool_of(protocol);
        if (p.n > 0) {
            out.s_ = p.s[--p.n];
            return 0;
        }
    }
    return open_in_netns(cookie_, sock_fd, [&](int& fd) {
        if (int e = nl_open(protocol, out.s_)) return e;
        fd = out.s_.fd;
        return 0;
    });
}

void netns_state::drain(int protocol) noexcept {
    std::lock_guard lock(pool_mu_);
    pool& p = pool_of(protocol);
    for (int i = 0; i < p.n; ++i) owned_fd_close(p.s[i].fd);
    p.n = 0;
}

void netns_state::adopt(int protocol, nl_socket s) noexcept {
    give_back(protocol, s);
}

void netns_state::give_back(int protocol, nl_socket s) noexcept {
    {
        std::lock_guard lock(pool_mu_);
        pool& p = pool_of(protocol);
        if (p.n < kPool) {
            p.s[p.n++] = s;
            return;
        }
    }
    owned_fd_close(s.fd);
}

int netns_state::open_sysctls() noexcept {
    char path[128];
    std::snprintf(path, sizeof path, "/proc%s", kPortRangePath);
    auto open_tracked = [](const char* file, int& out) {
        int fd = ::open(file, O_RDONLY | O_CLOEXEC);
        if (fd < 0) return errno;
        if (int e = owned_fd_track(fd)) {
            ::close(fd);
            return e;
        }
        out = fd;
        return 0;
    };
    if (int e = open_tracked(path, range_fd_)) return e;
    std::snprintf(path, sizeof path, "/proc%s", kReservedPortsPath);
    return open_tracked(path, reserved_fd_);
}

int netns_state::refresh_sysctls() noexcept {
    // Per-thread read buffers: the reserved list is usually short, but may be ~200 KB; the
    // buffer grows once and is reused, so steady-state calls do not allocate.
    static thread_local char range_buf[64];
    static thread_local std::vector<char> reserved_buf;
    size_t range_len, reserved_len;
    // Unknown until this read succeeds: a failed read leaves the next call to read again.
    sysctls_known_.store(false, std::memory_order_release);
    if (int e = read_whole(range_fd_, range_buf, sizeof range_buf, range_len)) return e;
    try {
        if (reserved_buf.empty()) reserved_buf.resize(4096);
        // procfs allocates and zeroes a kernel buffer of the size asked for: ask for little first
        // (the list is usually empty or short) and for more only when that was not enough.
        size_t ask = 256;
        for (;;) {
            int e = read_whole(reserved_fd_, reserved_buf.data(), ask, reserved_len);
            if (e == 0) break;
            if (e != EOVERFLOW || ask >= (1u << 20)) return e;
            ask *= 4;
            if (reserved_buf.size() < ask) reserved_buf.resize(ask);
        }
    } catch (const std::bad_alloc&) {
        return ENOMEM;
    }
    std::string_view range_text(range_buf, range_len);
    std::string_view reserved_text(reserved_buf.data(), reserved_len);
    std::lock_guard lock(mu);
    try {
        if (range_text != range_text_) {
            auto r = parse_port_range(range_text);
            if (!r) return EPROTO;
            range = *r;
            range_text_.assign(range_text);
            sysctl_changes_.fetch_add(1, std::memory_order_relaxed);
        }
        if (reserved_text != reserved_text_) {
            if (!reserved.parse(reserved_text)) {
                reserved_text_.clear();  // the bitmap was cleared: re-parse next time
                return EPROTO;
            }
            reserved_text_.assign(reserved_text);
            sysctl_changes_.fetch_add(1, std::memory_order_relaxed);
        }
    } catch (const std::bad_alloc&) {
        range_text_.clear();
        reserved_text_.clear();
        return ENOMEM;
    }
    sysctls_known_.store(true, std::memory_order_release);
    return 0;
}

port_hint* netns_state::hint(const port_hint_key& key) noexcept {
    ++tick_;
    port_hint* victim = &hints_[0];
    for (port_hint& h : hints_) {
        if (h.claimed && h.key == key) {
            h.last_use = tick_;
            return &h;
        }
        if (!h.claimed || (victim->claimed && h.last_use < victim->last_use)) victim = &h;
    }
    if (!victim->taken) {
        victim->taken.reset(new (std::nothrow) uint64_t[port_hint::kWords]);
        victim->blocked.reset(new (std::nothrow) uint64_t[port_hint::kWords]);
        if (!victim->taken || !victim->blocked) {
            victim->taken.reset();
            victim->blocked.reset();
            return nullptr;
        }
    }
    std::memset(victim->taken.get(), 0, port_hint::kWords * sizeof(uint64_t));
    std::memset(victim->blocked.get(), 0, port_hint::kWords * sizeof(uint64_t));
    victim->key = key;
    victim->claimed = true;
    victim->dumped_at = 0;
    victim->picks = 0;
    victim->last_use = tick_;
    return victim;
}

// --- the registry ------------------------------------------------------------------------------

netns_ref::~netns_ref() {
    if (!s_) return;
    if (owned_) {
        delete s_;
        return;
    }
    std::lock_guard lock(g_reg.mu);
    int i = slot_of(s_);
    if (i >= 0) --g_reg.refs[i];
}

namespace {

// Creates the state for namespace `cookie`, socket `sock_fd` living in it: sysctls and a first
// netlink socket, opened inside that namespace (entering it if the thread stands elsewhere).
int create_state(uint64_t cookie, int sock_fd, netns_state*& out) {
    std::unique_ptr<netns_state> s(new (std::nothrow) netns_state(cookie));
    if (!s) return ENOMEM;
    netns_visit visit;
    if (cookie != 0) {
        int fd = sys::socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
        if (fd < 0) return -fd;
        unique_fd here(fd);
        uint64_t c = 0;
        if (int e = netns_cookie_of(fd, c)) return e;
        if (c != cookie)
            if (int e = visit.enter(sock_fd)) return e;
    }
    if (int e = s->open_sysctls()) return e;
    s->open_route_monitor();
    nl_socket first;
    if (int e = nl_open(NETLINK_SOCK_DIAG, first)) return e;
    s->adopt(NETLINK_SOCK_DIAG, first);
    out = s.release();
    return 0;
}

}  // namespace

int netns_for_socket(int fd, netns_ref& out) noexcept {
    uint64_t cookie = 0;
    if (int e = netns_cookie_of(fd, cookie)) {
        if (e != ENOPROTOOPT) return e;
        cookie = 0;  // before 5.14: the caller's namespace, unverifiable
    }
    static std::once_flag once;
    std::call_once(once, [] { pthread_atfork(atfork_prepare, atfork_parent, atfork_child); });

    std::unique_lock lock(g_reg.mu);
    if (g_reg.forked) reset_after_fork();
    ++g_reg.tick;
    int free_slot = -1, lru = -1;
    for (int i = 0; i < registry::kSlots; ++i) {
        netns_state* s = g_reg.slots[i];
        if (s && s->cookie() == cookie) {
            ++g_reg.refs[i];
            g_reg.last_use[i] = g_reg.tick;
            out.s_ = s;
            return 0;
        }
        if (!s && free_slot < 0) free_slot = i;
        if (s && g_reg.refs[i] == 0 && (lru < 0 || g_reg.last_use[i] < g_reg.last_use[lru]))
            lru = i;
    }
    netns_state* s = nullptr;
    if (int e = create_state(cookie, fd, s)) return e;
    if (free_slot < 0 && lru >= 0) {
        // A namespace not used for longest: closing its netlink sockets also stops them from
        // keeping that namespace alive.
        delete g_reg.slots[lru];
        g_reg.slots[lru] = nullptr;
        free_slot = lru;
    }
    if (free_slot < 0) {  // every slot busy: a state for this call only
        out.s_ = s;
        out.owned_ = true;
        return 0;
    }
    g_reg.slots[free_slot] = s;
    g_reg.refs[free_slot] = 1;
    g_reg.last_use[free_slot] = g_reg.tick;
    out.s_ = s;
    return 0;
}

int netns_test_inject(int sock_fd, int protocol, int fd, uint32_t portid) noexcept {
    netns_ref ref;
    if (int e = netns_for_socket(sock_fd, ref)) {
        ::close(fd);
        return e;
    }
    int ms = g_timeout_ms.load();
    timeval tv{ms / 1000, (ms % 1000) * 1000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (int e = owned_fd_track(fd)) {
        ::close(fd);
        return e;
    }
    ref->drain(protocol);
    ref->adopt(protocol, nl_socket{fd, portid, 0});
    return 0;
}

int netns_test_count() noexcept {
    std::lock_guard lock(g_reg.mu);
    if (g_reg.forked) return 0;
    int n = 0;
    for (netns_state* s : g_reg.slots) n += s != nullptr;
    return n;
}

}  // namespace cx::detail
