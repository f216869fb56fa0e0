// udp_connect.cpp - the UDP path. The kernel keeps connected UDP sockets unique per local
// (address, port) only without SO_REUSEADDR, and with it not at all; so the library makes 4-tuples
// unique itself, with SO_REUSEADDR as a lock:
//   cookie; SO_REUSEADDR=1; bind; SO_REUSEADDR=0 (no cooperating socket can bind the port now);
//   exact SOCK_DIAG lookup of (dst -> local), which must name our own socket; connect;
//   SO_REUSEADDR=1 (others may share the local port toward other destinations).
// A port that no socket holds needs none of that: bound without SO_REUSEADDR, it is ours alone
// (such a bind conflicts with every socket on the address or the wildcard, whatever their
// options, as ours has neither SO_REUSEADDR nor SO_REUSEPORT), so connect and SO_REUSEADDR=1
// suffice, with no lookup ("alone"). That is tried first.
// Cases:
//   src IP and port    alone; if the port is held, the lock on it, with a pre-check lookup first
//                      so a taken 4-tuple is refused before the socket is touched.
//   src IP             port search: candidates from ip_local_port_range, the per-call range and
//                      the socket's IP_LOCAL_PORT_RANGE, minus reserved ports, minus the ports a
//                      per-destination hint believes taken. The first candidate is tried alone
//                      (see connect_search for when), the others are locked and checked.
//   nothing            the source IP from the routing table (RTM_GETROUTE), then as above.
// A candidate is bound with IP_LOCAL_PORT_RANGE=[P,P] and bind(ip, 0): a port bound that way is
// not user-locked, so connect(AF_UNSPEC) gives it back when the locked lookup loses, and the
// search moves on with the same socket. (Before 6.3 the port is bound explicitly and a lost lookup
// ends the call with EADDRINUSE.)
// Fail closed: a lookup that cannot be made or read (see connectx.h) ends the call with its
// errno; "not found" for our own bound socket is never read as "free".
#include <linux/netlink.h>
#include <net/if.h>
#include <netinet/in.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "netns_cache.hpp"
#include "port_range.hpp"
#include "request.hpp"
#include "route_lookup.hpp"
#include "sock_diag.hpp"
#include "sys.hpp"

#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51
#endif
#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

namespace cx::detail {
namespace {

// Lost lookups in a row after which the hint is refreshed by a dump: a miss or two is another
// process being quick; more means the hint is stale.
constexpr int kMissesBeforeDump = 2;
// A dump costs a walk of every UDP socket of the host (the hash is shared by all namespaces), so
// one destination's hint is refreshed at most this often; in between, a stale hint is corrected by
// exact lookups, and a range the last dump saw full gets kProbesAfterFullDump of them.
constexpr uint64_t kDumpEveryMs = 100;
// Lookups repeated when our own locked socket is not found where udp_diag answers (see
// verify_locked).
constexpr int kNotFoundRetries = 3;
// Misses allowed, between two dumps, when the last dump saw the range full.
constexpr int kProbesAfterFullDump = 16;
// Binds that landed outside the candidate (ip_local_port_range changed under the call) before
// the search gives up with EAGAIN.
constexpr int kMaxElsewhere = 4;
// After a search's first candidate failed to bind alone (see connect_search), the namespace's
// searches wait this long before trying alone again; the wait doubles with each failure in a
// row, up to kAloneWaitMaxMs. A failure costs ~1 ms, so it is at most ~1% of the time.
constexpr uint64_t kAloneWaitMs = 100;
constexpr uint64_t kAloneWaitMaxMs = 1600;

// One UDP connectx() call in progress.
struct udp_call {
    const request& r;
    connectx_result& res;
    netns_ref ns;
    nl_lease diag;
    bool diag_leased = false;
    uint64_t cookie = 0;         // SO_COOKIE of the socket, 0 until a lookup needs it
    int prev_reuse = 0;          // SO_REUSEADDR before the call, restored if we fail unbound
    bool v4_table = false;       // IPv4 traffic: AF_INET socket or IPv4-mapped destination
    uint32_t ifindex = 0;        // device the socket is bound to (lookups must name it)
    uint32_t arrival = 0;        // with no device: the one the flow arrives on (route's), 0 = not
                                 // asked yet
    int prev_device = 0;         // SO_BINDTOIFINDEX before opts.ifindex replaced it
    bool reuse_read = false;     // prev_reuse holds the caller's value
    bool device_set = false;     // opts.ifindex was applied over prev_device
    bool bound_shared = false;   // bound for good to a port with SO_REUSEADDR=1 (see finish)
    int prev_no_port = 0;        // IP_BIND_ADDRESS_NO_PORT as the caller set it (cleared meanwhile)
    bool rebind_device = false;  // connect(AF_UNSPEC) clears the bound device: set it again
    bool device_known = true;    // false: ifindex not read yet (see know_device)
    bool check_bound = false;    // a locked lookup that is not ours checks the bound port
    address src;                 // the source, IP known; the port set per attempt

    udp_call(const request& req, connectx_result& out) : r(req), res(out) {}

    int fd() const { return r.fd; }
    int family() const { return v4_table ? AF_INET : AF_INET6; }
    size_t ip_len() const { return v4_table ? 4 : 16; }
};

// The local end for the caller's result, known without asking the kernel: the bound address,
// which the locked lookup has just shown to be ours.
// (As getsockname shows it: an IPv6 source's flow label is not part of it.)
void report_local(udp_call& c, const sockaddr* sa, socklen_t len) {
    std::memcpy(&c.res.local, sa, len);
    if (sa->sa_family == AF_INET6) reinterpret_cast<sockaddr_in6*>(&c.res.local)->sin6_flowinfo = 0;
}

int set_reuse(const udp_call& c, int v) {
    return sys::setsockopt_int(c.fd(), SOL_SOCKET, SO_REUSEADDR, v);
}

// The device the socket is bound to, read once. In the common case (an IPv4 or global IPv6
// source given, no device asked for) it is read only when needed: before anything that clears it
// (connect(AF_UNSPEC)), before a pre-check lookup, and when a locked lookup does not name our
// socket. A locked lookup without a device that names our socket proves there is none: udp_diag
// matches a device-bound socket only when the lookup names its device.
int know_device(udp_call& c) {
    if (c.device_known) return 0;
    int bound = 0;
    if (int e = sys::getsockopt_int(c.fd(), SOL_SOCKET, SO_BINDTOIFINDEX, bound)) return e;
    c.ifindex = uint32_t(bound);
    c.rebind_device = bound != 0;
    c.device_known = true;
    return 0;
}

// Returned by the lock when the socket turned out bound to another port than the candidate (see
// connect_search): not an errno, never returned to the caller.
constexpr int kBoundElsewhere = -1;

// The port socket `fd` is bound to.
int bound_port(int fd, uint16_t& port) {
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (int e = sys::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), len)) return e;
    port = ss.ss_family == AF_INET ? ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port)
                                   : ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port);
    return 0;
}

// The device a lookup names. udp_diag's exact lookup is the receive path's: it finds a socket
// bound to a device only when the lookup names that device, and unbound ones always. A socket
// bound to a device must name it; one without must name the device the flow arrives on (the
// route's toward dst), or a flow of another socket bound there stays invisible and is duplicated.
int lookup_device(udp_call& c, uint32_t& dev) {
    if (c.ifindex) {
        dev = c.ifindex;
        return 0;
    }
    if (!c.arrival) {
        address ip = c.src;
        ip.set_port(0);  // one answer for every candidate port
        route_answer a;
        if (int e = route_ask(*c.ns, c.fd(), IPPROTO_UDP, ip, c.r.dst, 0, a)) return e;
        c.arrival = a.oif;
    }
    dev = c.arrival;
    return 0;
}

// Exact lookup of (dst -> src:port). Counts it, and marks the namespace's udp_diag as answering
// when it names any socket.
int lookup(udp_call& c, uint16_t port, diag_answer& out) {
    diag_tuple t;
    if (int e = lookup_device(c, t.ifindex)) return e;
    if (!c.diag_leased) {
        if (int e = c.ns->lease(NETLINK_SOCK_DIAG, c.fd(), c.diag)) return e;
        c.diag_leased = true;
    }
    t.family = c.family();
    std::memcpy(t.local, ip_bytes(c.src, c.v4_table), c.ip_len());
    std::memcpy(t.remote, ip_bytes(c.r.dst, c.v4_table), c.ip_len());
    t.local_port = port;
    t.remote_port = c.r.dst.port();
    ++c.res.lookups;
    int e = sock_diag_lookup(c.diag.fd(), c.diag.portid(), c.diag.next_seq(), IPPROTO_UDP, t, out);
    if (e) {
        c.diag.discard();  // it may still receive the late answer
        c.diag_leased = false;
        return e;
    }
    if (out.cookie) c.ns->diag_answered.store(true, std::memory_order_relaxed);
    return 0;
}

// Our socket is bound to src:port with SO_REUSEADDR=0. 0 when the lookup names it, EADDRINUSE
// when it names another socket; an errno when the answer cannot be trusted. Not finding our own
// bound socket can be a transient: the kernel answers "not found" when the best match it found
// is a socket being closed at that instant (its refcount is already zero), seen under churn by
// the race test. So it asks again a few times; still nothing is EPROTO where udp_diag has named
// a socket before, and EPROTONOSUPPORT (udp_diag does not answer here) where it never has.
// Before any of that, an answer that is not ours is checked against where the socket really is
// (c.check_bound: kBoundElsewhere) and, if its device was not read yet, asked again naming it.
int verify_locked(udp_call& c, uint16_t port) {
    if (!c.cookie)
        if (int e = sys::getsockopt_u64(c.fd(), SOL_SOCKET, SO_COOKIE, c.cookie)) return e;
    for (int attempt = 0;; ++attempt) {
        diag_answer a;
        if (int e = lookup(c, port, a)) return e;
        if (a.cookie && *a.cookie == c.cookie) {  // ours cannot leave its port while locked
            c.device_known = true;                // found without naming one: none (or named)
            return a.moved ? EPROTO : 0;
        }
        if (c.check_bound) {
            // Not ours: first make sure the socket is where the lookup looked.
            c.check_bound = false;
            uint16_t at = 0;
            if (int e = bound_port(c.fd(), at)) return e;
            if (at != port) return kBoundElsewhere;
        }
        if (!c.device_known) {
            if (int e = know_device(c)) return e;
            if (c.ifindex) {  // looked without the device: again, with it
                --attempt;
                continue;
            }
        }
        if (a.cookie) return EADDRINUSE;
        // The transient can hit the first lookup a process makes too (seen on 6.12): ask again
        // before concluding that udp_diag does not answer here.
        if (attempt == kNotFoundRetries)
            return c.ns->diag_answered.load() ? EPROTO : EPROTONOSUPPORT;
    }
}

// The socket is bound with SO_REUSEADDR=0 and `e` says whether it may connect (0) or not (an
// errno): connect if so, then SO_REUSEADDR=1 either way, so that no lock is left and others may
// share the port. A connect whose unlock fails is undone. Returns the call's errno.
int connect_and_share(udp_call& c, int e) {
    if (e == 0) e = sys::connect(c.fd(), c.r.dst.sa(), c.r.dst.size());
    if (int u = set_reuse(c, 1)) {
        if (e == 0) {
            sys::disconnect(c.fd());
            e = u;
        }
    }
    return e;
}

// The socket is bound with SO_REUSEADDR=1: lock, verify, connect, unlock. On failure the lock is
// released (SO_REUSEADDR=1) and the socket is not connected; it stays bound.
int lock_and_connect(udp_call& c, uint16_t port) {
    if (int e = set_reuse(c, 0)) return e;
    return connect_and_share(c, verify_locked(c, port));
}

// The socket is bound alone, SO_REUSEADDR=0 (see the top of the file): no lookup is needed.
int connect_alone(udp_call& c) {
    c.res.technique = CONNECTX_TECH_UDP_ALONE;
    return connect_and_share(c, 0);
}

// Per-call setup shared by all cases: namespace state, previous SO_REUSEADDR, device.
// SO_REUSEPORT is refused: a bind does not conflict with a socket of the same user that has it
// too, so neither the lock nor a bind alone would exclude such a socket.
int begin(udp_call& c) {
    c.res.technique = CONNECTX_TECH_UDP_LOCK;
    c.v4_table = c.r.family == AF_INET || c.r.dst_v4_mapped();
    int reuseport = 0;
    if (int e = sys::getsockopt_int(c.fd(), SOL_SOCKET, SO_REUSEPORT, reuseport)) return e;
    if (reuseport) return EINVAL;
    if (int e = netns_for_socket(c.fd(), c.ns)) return e;
    if (int e = sys::getsockopt_int(c.fd(), SOL_SOCKET, SO_REUSEADDR, c.prev_reuse)) return e;
    c.reuse_read = true;
    // A program may set IP_BIND_ADDRESS_NO_PORT on every client socket; on UDP it would keep the
    // bind from taking the candidate port, and connect() would autobind one instead.
    if (int e = sys::getsockopt_int(c.fd(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, c.prev_no_port))
        return e;
    if (c.prev_no_port)
        if (int e = sys::setsockopt_int(c.fd(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 0)) return e;
    if (c.r.ifindex) {
        if (int e = sys::getsockopt_int(c.fd(), SOL_SOCKET, SO_BINDTOIFINDEX, c.prev_device))
            return e;
        if (int e = sys::setsockopt_int(c.fd(), SOL_SOCKET, SO_BINDTOIFINDEX, c.r.ifindex))
            return e;
        c.device_set = true;
        c.ifindex = uint32_t(c.r.ifindex);
        c.rebind_device = true;
    } else if (c.r.src_ip_given && !c.r.dst.needs_scope() && !c.r.src.needs_scope()) {
        c.device_known = false;  // a given, non-link-local IP: read when needed, see know_device
    } else {
        c.device_known = false;
        if (int e = know_device(c)) return e;
    }
    // A link-local destination is reached through its scope's device; bind() of the scoped
    // source binds the socket there.
    if (!c.ifindex && c.r.dst.needs_scope()) c.ifindex = c.r.dst.scope_id();
    c.src = c.r.src;
    return 0;
}


// --- explicit port -------------------------------------------------------------------------------

int connect_explicit(udp_call& c) {
    uint16_t port = c.src.port();
    c.res.attempts = 1;
    // Alone: a failed bind costs one hash slot's walk and leaves the socket as it was.
    if (!c.prev_reuse) {
        int e = sys::bind(c.fd(), c.src.sa(), c.src.size());
        if (e == 0) {
            e = connect_alone(c);
            if (e == 0) report_local(c, c.src.sa(), c.src.size());
            return e;
        }
        if (e != EADDRINUSE) return e;
    }
    // Pre-check, before any side effect: a socket that would receive this flow now — connected to
    // it, or bound unconnected to the address or the wildcard — makes the 4-tuple taken. (Only
    // the locked lookup below is trusted to say "ours"; "none" here is not trusted for anything.)
    if (int e = know_device(c)) return e;
    diag_answer pre;
    if (int e = lookup(c, port, pre)) return e;
    if (pre.cookie) return EADDRINUSE;
    if (!c.prev_reuse)
        if (int e = set_reuse(c, 1)) return e;
    if (int e = sys::bind(c.fd(), c.src.sa(), c.src.size())) {
        set_reuse(c, c.prev_reuse);
        return e;
    }
    c.bound_shared = true;
    int e = lock_and_connect(c, port);
    if (e == 0) report_local(c, c.src.sa(), c.src.size());
    return e;
}

// --- port search ---------------------------------------------------------------------------------

// The candidate ports: namespace range, per-call range, the socket's own IP_LOCAL_PORT_RANGE
// (whose bounds apply only inside the namespace's, as the kernel does).
bool usable_span(const udp_call& c, port_span ns_range, uint32_t sock_range, port_span& out) {
    port_span s = ns_range;
    if (c.r.has_range()) {
        auto i = intersect(s, {c.r.port_lo, c.r.port_hi});
        if (!i) return false;
        s = *i;
    }
    auto n = narrow_by_socket_range(s, ns_range, sock_range);
    if (!n) return false;
    out = *n;
    return true;
}

// Ports of `span` in word i that are not candidates (reserved, believed taken, blocked).
uint64_t busy_word(const port_hint& h, const reserved_ports& rp, port_span span, size_t i) {
    uint64_t w = h.taken[i] | h.blocked[i] | rp.word(i);
    size_t first = span.lo >> 6, last = span.hi >> 6;
    if (i == first) w |= (uint64_t{1} << (span.lo & 63)) - 1;
    if (i == last && (span.hi & 63) != 63) w |= ~((uint64_t{2} << (span.hi & 63)) - 1);
    return w;
}

// A candidate port: the first one believed free at or after a random start, wrapping around
// the span (as the kernel's own autobind does: cheap at any occupancy, and spread enough). 0 when
// none is believed free. Caller holds ns->mu.
uint16_t pick_port(const port_hint& h, const reserved_ports& rp, port_span span) {
    const size_t first = span.lo >> 6, last = span.hi >> 6, words = last - first + 1;
    const uint16_t start = uint16_t(span.lo + random_below(span.size()));
    size_t i = start >> 6;
    // The start word: only bits at or after the start, the rest is visited last.
    uint64_t w = ~busy_word(h, rp, span, i) & (~uint64_t{0} << (start & 63));
    for (size_t n = 0; n <= words; ++n) {
        if (w) return uint16_t(i * 64 + size_t(std::countr_zero(w)));
        i = i == last ? first : i + 1;
        w = ~busy_word(h, rp, span, i);
        if (n + 1 == words) w &= (uint64_t{1} << (start & 63)) - 1;  // back at the start word
    }
    return 0;
}

void set_bit(uint64_t* bits, uint16_t p) {
    bits[p >> 6] |= uint64_t{1} << (p & 63);
}

void clear_span(uint64_t* bits, port_span span) {
    std::memset(bits + (span.lo >> 6), 0, ((span.hi >> 6) - (span.lo >> 6) + 1) * sizeof(uint64_t));
}

uint64_t now_ms() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1000000;
}

// Bookkeeping of the first candidate's bind alone through IP_LOCAL_PORT_RANGE.
void alone_failed(netns_state& ns) {
    uint32_t before = ns.alone_failures.fetch_add(1, std::memory_order_relaxed);
    uint64_t wait = std::min(kAloneWaitMaxMs, kAloneWaitMs << std::min(before, 4u));
    ns.alone_after_ms.store(now_ms() + wait, std::memory_order_relaxed);
}

void alone_succeeded(netns_state& ns) {
    if (ns.alone_failures.load(std::memory_order_relaxed) != 0)
        ns.alone_failures.store(0, std::memory_order_relaxed);
}

struct dump_ctx {
    uint64_t* bits;
    const udp_call* c;
    port_span span;
};

// Marks the local port of a dumped socket that can receive toward the destination: the kernel
// filter passed sockets connected to it and unconnected ones; here only those bound to our
// source address or the wildcard remain (as IPv4-mapped too, for dual-stack sockets).
void on_dumped(const diag_entry& e, void* p) {
    auto* ctx = static_cast<dump_ctx*>(p);
    const udp_call& c = *ctx->c;
    if (!ctx->span.contains(e.local_port)) return;
    static constexpr uint8_t zero[16] = {};
    static constexpr uint8_t mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    const uint8_t* src = ip_bytes(c.src, c.v4_table);
    bool ours;
    if (c.v4_table && e.family == AF_INET)
        ours = std::memcmp(e.local, src, 4) == 0 || std::memcmp(e.local, zero, 4) == 0;
    else if (c.v4_table)
        ours =
            std::memcmp(e.local, zero, 16) == 0 || (std::memcmp(e.local, mapped_prefix, 12) == 0 &&
                                                    std::memcmp(e.local + 12, src, 4) == 0);
    else
        ours = std::memcmp(e.local, src, 16) == 0 || std::memcmp(e.local, zero, 16) == 0;
    if (ours) set_bit(ctx->bits, e.local_port);
}

// Replaces the hint's taken ports with a dump of the sockets that take ports toward the
// destination (IPv4 traffic: both tables, for dual-stack sockets).
int refresh_hint(udp_call& c, const port_hint_key& key, port_span span) {
    static thread_local uint64_t fresh[port_hint::kWords];
    size_t first = span.lo >> 6, last = span.hi >> 6;
    std::memset(fresh + first, 0, (last - first + 1) * sizeof(uint64_t));
    if (!c.diag_leased) {
        if (int e = c.ns->lease(NETLINK_SOCK_DIAG, c.fd(), c.diag)) return e;
        c.diag_leased = true;
    }
    dump_ctx ctx{fresh, &c, span};
    for (int fam : {AF_INET6, AF_INET}) {
        if (fam == AF_INET && !c.v4_table) break;
        int e = sock_diag_dump(c.diag.fd(), c.diag.portid(), c.diag.next_seq(), fam, IPPROTO_UDP,
                               span.lo, span.hi, c.family(), key.dst, key.dport, on_dumped, &ctx);
        if (e) {
            c.diag.discard();
            c.diag_leased = false;
            return e;
        }
    }
    std::lock_guard lock(c.ns->mu);
    port_hint* h = c.ns->hint(key);
    if (!h) return ENOMEM;
    std::memcpy(h->taken.get() + first, fresh + first, (last - first + 1) * sizeof(uint64_t));
    h->dumped_at = now_ms();
    h->picks = 0;
    return 0;
}

// Restores what the search changed on an unconnected socket: its port range, its device (which
// connect(AF_UNSPEC) cleared), SO_REUSEADDR.
void undo_search(const udp_call& c, bool lpr, uint32_t prev_lpr) {
    if (lpr) sys::setsockopt_int(c.fd(), IPPROTO_IP, IP_LOCAL_PORT_RANGE, int(prev_lpr));
    if (c.rebind_device) sys::setsockopt_int(c.fd(), SOL_SOCKET, SO_BINDTOIFINDEX, int(c.ifindex));
    set_reuse(c, c.prev_reuse);
}

// Sysctls: ip_local_port_range and ip_local_reserved_ports can change at any time and nothing
// announces it, yet a change must hold from the very next call. Reading them costs two procfs
// preads per call; where the kernel enforces both at bind time, they are read only when needed:
// a candidate P is bound through IP_LOCAL_PORT_RANGE=[P,P] and bind(ip, 0), and the kernel's
// autobind then never binds a reserved port (bind fails) nor one outside the current range (the
// socket's bounds are ignored outside it and another port is bound, which getsockname shows).
// Either way the search re-reads the sysctls and goes on; it also re-reads them before it gives
// up with EAGAIN (the range may have grown or reservations gone), and whenever the socket has
// its own IP_LOCAL_PORT_RANGE (whose bounds count only inside the current range). Without
// IP_LOCAL_PORT_RANGE (before 6.3) a port is bound explicitly, which the kernel does not check
// against either sysctl: they are read on every call.
// The first candidate is bound alone (SO_REUSEADDR=0) when the socket's SO_REUSEADDR is 0 and,
// through IP_LOCAL_PORT_RANGE, no such bind failed in the namespace lately: there a failure costs
// a walk of the whole UDP hash, and ports held toward other destinations, which no hint shows,
// make it fail. An explicit bind (before 6.3) fails cheaply. A bind alone through the range may
// also land outside the candidate; the port is then still in the range and ours alone.
int connect_search(udp_call& c) {
    int sock_range = 0;
    int e = sys::getsockopt_int(c.fd(), IPPROTO_IP, IP_LOCAL_PORT_RANGE, sock_range);
    bool lpr = e == 0;
    if (e && e != ENOPROTOOPT) return e;
    const uint32_t prev_lpr = uint32_t(sock_range);
    bool fresh = false;  // the sysctls were read during this call
    auto refresh = [&] {
        fresh = true;
        return c.ns->refresh_sysctls();
    };
    if (!lpr || prev_lpr != 0 || !c.ns->sysctls_known())
        if (int e2 = refresh()) return e2;

    port_hint_key key;
    std::memcpy(key.src, ip_bytes(c.src, c.v4_table), c.ip_len());
    std::memcpy(key.dst, ip_bytes(c.r.dst, c.v4_table), c.ip_len());
    key.dport = c.r.dst.port();
    key.family = uint16_t(c.family());
    key.ifindex = c.ifindex;

    bool alone = !c.prev_reuse && (!lpr || now_ms() >= c.ns->alone_after_ms.load(
                                                           std::memory_order_relaxed));
    bool reuse = c.prev_reuse != 0;  // SO_REUSEADDR as it is now
    auto fail = [&](int err) {
        undo_search(c, lpr, prev_lpr);
        return err;
    };
    bool dumped = false, reset = false, unblocked = false, contended = false;
    int misses = 0, budget = -1, elsewhere = 0;  // budget: misses left before EAGAIN, -1 = unbounded
    auto missed = [&] {           // counts a lost candidate; true when the budget is spent
        ++misses;
        return budget > 0 && --budget == 0;
    };
    for (;;) {
        port_span span;
        uint16_t port = 0;
        bool want_dump = false;
        {
            std::unique_lock lock(c.ns->mu);
            if (!usable_span(c, c.ns->range, prev_lpr, span)) {
                lock.unlock();
                if (fresh) return fail(EAGAIN);
                if (int e2 = refresh()) return fail(e2);
                continue;
            }
            port_hint* h = c.ns->hint(key);
            if (!h) return fail(ENOMEM);
            const uint64_t now = now_ms();
            const bool may_dump =
                !dumped && (h->dumped_at == 0 || now - h->dumped_at >= kDumpEveryMs);
            want_dump = may_dump && misses >= kMissesBeforeDump;
            if (!want_dump) {
                port = pick_port(*h, c.ns->reserved, span);
                const bool ours = h->picks >= span.size() / 2;
                if (!port && !reset && !dumped && (ours || !may_dump)) {
                    // Believed full mostly through our own picks, whose sockets may be closed by
                    // now, or too soon after the last dump to dump again (a dump walks every UDP
                    // socket of the host: ~170 ms with a million of them): start again
                    // optimistic. In the second case the range was full moments ago: probe with
                    // lookups first and give up after a few misses.
                    clear_span(h->taken.get(), span);
                    h->picks = 0;
                    reset = true;
                    if (!ours) {
                        contended = true;
                        budget = kProbesAfterFullDump;
                    }
                    port = pick_port(*h, c.ns->reserved, span);
                }
                if (!port && may_dump) {
                    want_dump = true;
                } else if (!port && !unblocked) {
                    // Ports whose bind failed may have been let go since: one more round.
                    clear_span(h->blocked.get(), span);
                    unblocked = true;
                    port = pick_port(*h, c.ns->reserved, span);
                }
                if (port) {
                    set_bit(h->taken.get(), port);  // claimed: other threads pick elsewhere
                    ++h->picks;
                }
            }
        }
        if (want_dump) {
            if (int e2 = refresh_hint(c, key, span)) return fail(e2);
            dumped = true;
            misses = 0;
            continue;
        }
        // Nothing believed free after a dump (or within kDumpEveryMs of the last one): unless
        // the sysctls, read now, say otherwise.
        if (port == 0) {
            if (fresh) return fail(EAGAIN);
            if (int e2 = refresh()) return fail(e2);
            continue;
        }
        ++c.res.attempts;
        if (!alone && !reuse) {
            if (int e2 = set_reuse(c, 1)) return fail(e2);
            reuse = true;
        }
        if (contended) {
            // Others are active on these ports: look before binding. A bind through the range
            // that fails costs the kernel a walk of its whole UDP hash (~1 ms); a lookup that
            // shows the port busy (a socket mid-connectx, or one connected to dst) costs ~2 us.
            if (int e2 = know_device(c)) return fail(e2);
            diag_answer pre;
            if (int e2 = lookup(c, port, pre)) return fail(e2);
            if (pre.cookie) {
                if (missed()) return fail(EAGAIN);
                continue;
            }
        }
        address at = c.src;
        if (lpr) {
            // The kernel binds the one port of [port, port] and does not user-lock it.
            uint32_t one = uint32_t(port) << 16 | port;
            if (int e2 = sys::setsockopt_int(c.fd(), IPPROTO_IP, IP_LOCAL_PORT_RANGE, int(one)))
                return fail(e2);
            at.set_port(0);
        } else {
            at.set_port(port);
        }
        if (int e2 = sys::bind(c.fd(), at.sa(), at.size())) {
            if (e2 != EADDRINUSE) return fail(e2);
            if (alone) {
                // Held by some socket, maybe toward another destination and sharable: the next
                // candidates are locked and checked, after a pre-check lookup.
                alone = false;
                if (lpr) alone_failed(*c.ns);
                if (!fresh)
                    if (int e3 = refresh()) return fail(e3);
                contended = true;
                continue;
            }
            {
                std::lock_guard lock(c.ns->mu);
                if (port_hint* h = c.ns->hint(key)) set_bit(h->blocked.get(), port);
            }
            // Maybe reserved since the sysctls were last read.
            if (!fresh)
                if (int e3 = refresh()) return fail(e3);
            if (missed()) return fail(EAGAIN);
            contended = true;
            continue;
        }
        if (alone && lpr) {
            // The kernel ignores a socket's range outside ip_local_port_range and binds another
            // port from there: a range changed since it was read. Give that port back and look
            // again, so that the call's own range holds.
            uint16_t landed = 0;
            if (int e2 = bound_port(c.fd(), landed)) return fail(e2);
            if (landed != port) {
                if (int e2 = know_device(c)) return fail(e2);
                sys::disconnect(c.fd());
                if (c.rebind_device)
                    if (int e2 = sys::setsockopt_int(c.fd(), SOL_SOCKET, SO_BINDTOIFINDEX,
                                                     int(c.ifindex)))
                        return fail(e2);
                if (int e2 = refresh()) return fail(e2);
                if (++elsewhere > kMaxElsewhere) return fail(EAGAIN);
                continue;
            }
            at.set_port(port);
        }
        const bool alone_bind = alone;
        int r;
        if (alone) {
            r = connect_alone(c);
        } else {
            // Only the bind through the range can land elsewhere; the lock checks (see
            // verify_locked).
            c.res.technique = CONNECTX_TECH_UDP_LOCK;
            c.check_bound = lpr;
            r = lock_and_connect(c, port);
        }
        if (r == 0) {
            if (lpr) sys::setsockopt_int(c.fd(), IPPROTO_IP, IP_LOCAL_PORT_RANGE, int(prev_lpr));
            if (alone) {
                if (lpr) {
                    alone_succeeded(*c.ns);
                    report_local(c, at.sa(), at.size());
                }
            } else {
                at.set_port(port);  // the locked lookup found our socket there
                report_local(c, at.sa(), at.size());
            }
            return 0;
        }
        alone = false;
        // Not connected, lock released. Give the port back (only possible when it was bound
        // through the range, not user-locked) and go on, or stop. The device first: giving the
        // port back clears it.
        if (int e2 = know_device(c)) return fail(r == kBoundElsewhere ? e2 : r);
        sys::disconnect(c.fd());
        if (!lpr) {  // bound for good: lock released, nothing more to undo
            c.bound_shared = !alone_bind;
            return r;
        }
        if (r == kBoundElsewhere) {
            // Outside the current ip_local_port_range: the kernel bound another port. Read the
            // sysctls (even when read this call: only a concurrent change explains it, and a
            // range that keeps changing ends the search).
            if (c.rebind_device)
                if (int e2 = sys::setsockopt_int(c.fd(), SOL_SOCKET, SO_BINDTOIFINDEX,
                                                 int(c.ifindex)))
                    return fail(e2);
            if (int e2 = refresh()) return fail(e2);
            if (++elsewhere > kMaxElsewhere || missed()) return fail(EAGAIN);
            continue;
        }
        if (r != EADDRINUSE) return fail(r);
        contended = true;
        if (c.rebind_device)
            if (int e2 = sys::setsockopt_int(c.fd(), SOL_SOCKET, SO_BINDTOIFINDEX, int(c.ifindex)))
                return fail(e2);
        if (missed()) return fail(EAGAIN);
    }
}

// After the call, whatever its outcome: IP_BIND_ADDRESS_NO_PORT as the caller had it; after a
// failure also SO_REUSEADDR and the device as they were, and no association. One exception: a
// socket bound for good (an explicit port; any port before 6.3) to a port it shares with other
// flows keeps SO_REUSEADDR=1, since 0 there would lock those flows' peers out of the port until
// the caller closes it. A port it holds alone it keeps as after bind(2).
int finish(udp_call& c, int e) {
    if (c.prev_no_port) sys::setsockopt_int(c.fd(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1);
    if (e == 0) return 0;
    if (c.reuse_read && !c.bound_shared) set_reuse(c, c.prev_reuse);
    if (c.device_set) sys::setsockopt_int(c.fd(), SOL_SOCKET, SO_BINDTOIFINDEX, c.prev_device);
    return e;
}

int udp_connect_begun(udp_call& c) {
    // Lock and lookups need the concrete local address: with a wildcard one (even with a fixed
    // port) the check would look at the wildcard, not at the address the route picks, and let a
    // duplicate 4-tuple through. The route's device is the one the flow arrives on.
    if (!c.r.src_ip_given)
        if (int e = route_source(*c.ns, c.fd(), IPPROTO_UDP, c.r.dst, c.ifindex, c.src, &c.arrival))
            return e;
    if (c.r.src_port() != 0) return connect_explicit(c);
    return connect_search(c);
}

}  // namespace

int udp_connect(const request& r, connectx_result& res) noexcept {
    udp_call c(r, res);
    int e = begin(c);
    if (e == 0) e = udp_connect_begun(c);
    return finish(c, e);
}

}  // namespace cx::detail
