// udp_port_search.cpp - the UDP source port search, as a type: where candidates come from
// (next_candidate), what trying one does (try_candidate, whose outcome is an enum), and a short
// loop between them (run).
//
// Candidates (udp_port_hints.hpp): first the destination's walk, which hands out each usable port
// once per round; once the round is over (or a walked port was taken), ports that a batch of
// exact lookups found free, one round trip for kSockDiagBatchMax ports. The cost per connect then
// depends neither on how many destinations there are nor on how many sockets the host holds
// (no dump), and EAGAIN is said only after every usable port was looked at during the call.
//
// Trying candidate P: bound through IP_LOCAL_PORT_RANGE=[P,P] and bind(ip, 0), so the kernel's
// autobind enforces ip_local_port_range and ip_local_reserved_ports as they are now (a reserved P
// fails to bind; a P outside the current range lands elsewhere, which the lock or getsockname
// shows) and the port is not user-locked: connect(AF_UNSPEC) gives it back when P is lost, and
// the search goes on with the same socket. Before 6.3 P is bound explicitly, the sysctls are read
// on every call, and a lost P ends the call (EADDRINUSE).
//
// Policies, one place each:
//   sysctls   read when the kernel does not enforce them (before 6.3, or the socket has its own
//             range), when never read, after a surprise (a bind refused or landing elsewhere),
//             and before EAGAIN.
//   alone     P is first bound without SO_REUSEADDR when the caller's SO_REUSEADDR is 0 and no
//             such bind failed in the namespace lately: success needs no lookup. A failure costs
//             the kernel a walk of its whole UDP hash (~1 ms), so it backs off (kAloneWait*).
//   blocked   a bind with SO_REUSEADDR that fails: a socket holds P without it. Tried again at
//             once (another process's lock lasts microseconds), then marked for a while
//             (udp_port_hints); before EAGAIN the marks are forgotten for one last round.
//   device    connect(AF_UNSPEC) clears the socket's device: give_back() sets it again.
//   landing   a bind alone through the range is checked for where it landed (getsockname) only
//             when the call's span is narrower than the namespace's range (a per-call range, the
//             socket's own): elsewhere in the namespace's range it is a port the kernel chose
//             under the live sysctls and holds alone, as good as the candidate. The lock path
//             learns where it is from its lookup.
//   source    with the source IP left open, a bind alone is to the wildcard address and
//             connect() takes the source its route gives the socket (try_alone). The route
//             question is asked only when the lock or a lookup needs the address (source()).
//   batched   the bind alone and what surrounds it go in one system call where the kernel can
//             (sock_ops.hpp); the lock through the range in two, one each side of its lookup
//             (try_locked).
//   no port   IP_BIND_ADDRESS_NO_PORT (a program may set it on every client socket) keeps a bind
//             of port 0 from taking the port: the lock clears it first (no_port_off) once the
//             process has seen it set, and before that learns it from its lookup. Alone, the
//             bind takes the address and connect() the candidate, autobound as exclusively as a
//             bind would; EAGAIN from connect() then says the candidate was taken.
#include "udp_port_search.hpp"

#include <netinet/in.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "port_range.hpp"
#include "sock_ops.hpp"
#include "sys.hpp"
#include "udp_port_hints.hpp"

#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51
#endif

namespace cx::detail {
namespace {

// Binds that landed outside the candidate (ip_local_port_range changed under the call) before
// the search gives up with EAGAIN.
constexpr int kMaxElsewhere = 4;
// After a bind alone through IP_LOCAL_PORT_RANGE failed, the namespace's searches wait this long
// before trying alone again; the wait doubles with each failure in a row, up to kAloneWaitMaxMs.
constexpr uint64_t kAloneWaitMs = 100;
constexpr uint64_t kAloneWaitMaxMs = 1600;

uint64_t now_ms() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1000000;
}

// A connect() in a chain answered EAGAIN in this process (see try_alone).
std::atomic<bool> g_no_port_seen{false};

enum class outcome {
    connected,  // done
    taken,      // another socket has the 4-tuple (or P is locked by a concurrent connectx)
    blocked,    // the bind failed: a socket holds P without SO_REUSEADDR
    elsewhere,  // the bind landed on another port: the range changed
};

class port_search {
public:
    explicit port_search(udp_call& c) : c_(c) {}
    int run();

private:
    int start();
    int source();
    int refresh();
    int span(port_span& out);
    int next_candidate(port_span span, uint16_t& port, bool& walked);
    int probe(port_span span);
    int try_candidate(uint16_t port, outcome& out);
    int lock_candidate(uint16_t port, const address& at, outcome& out);
    int try_alone(uint16_t port, outcome& out);
    int try_locked(uint16_t port, outcome& out);
    int pass_over_blocked(uint16_t port, outcome& out);
    int after_connect(uint16_t port, const address& at, int r, bool elsewhere, outcome& out);
    int bind_candidate(uint16_t port, address& at);
    int give_back();
    int fail(int e);
    void alone_failed();

    udp_call& c_;
    dest_key key_;
    bool lpr_ = false;             // the kernel has IP_LOCAL_PORT_RANGE
    uint32_t prev_lpr_ = 0;        // the socket's own range, restored at the end
    bool fresh_ = false;           // the sysctls were read during this call
    bool check_landing_ = false;   // the span is narrower than the namespace's range
    bool landed_known_ = false;    // the last bind alone was checked to be on its candidate
    bool alone_ = false;           // the next bind is without SO_REUSEADDR
    bool reuse_ = false;           // SO_REUSEADDR as it is now
    bool range_put_back_ = false;  // the socket's own range is set again (try_alone did it)
    uint32_t looked_ = 0;          // ports probed during the call, in span_
    port_span span_;               // the span they were probed in
    int elsewhere_ = 0;
    bool final_round_ = false;  // blocked marks forgotten for one last look before EAGAIN
    // Ports a socket in flight was found on (diag_answer::in_flight), or whose bind failed: maybe
    // another process's connectx() between its bind and its connect. Looked at again, a few
    // times, before EAGAIN.
    static constexpr size_t kRecheck = 64;
    // After 0.2, 1, 4, 16, 64 and 256 ms: a peer descheduled mid-call on a loaded machine can
    // take that long (seen: over 85 ms at a load average of 13 on 2 cores). Only a call about to
    // say EAGAIN waits, and only for ports seen in flight.
    static constexpr int kRechecks = 6;
    uint16_t recheck_[kRecheck] = {};
    size_t nrecheck_ = 0;
    int rechecks_ = 0;
    void note_in_flight(uint16_t port) {
        if (nrecheck_ < kRecheck) recheck_[nrecheck_++] = port;
    }
    int recheck(uint16_t& port);
};

udp_port_hints& hints_of(udp_call& c) {
    return c.ns->udp_hints;
}

int port_search::refresh() {
    fresh_ = true;
    const uint64_t before = c_.ns->sysctl_changes();
    int e = c_.ns->refresh_sysctls();
    if (c_.ns->sysctl_changes() != before) looked_ = 0;  // reserved ports may have gone
    return e;
}

int port_search::start() {
    int sock_range = 0;
    int e = sys::getsockopt_int(c_.fd(), IPPROTO_IP, IP_LOCAL_PORT_RANGE, sock_range);
    lpr_ = e == 0;
    if (e && e != ENOPROTOOPT) return e;
    prev_lpr_ = uint32_t(sock_range);
    check_landing_ = c_.r.has_range() || prev_lpr_ != 0;
    if (!lpr_ || prev_lpr_ != 0 || !c_.ns->sysctls_known())
        if (int e2 = refresh()) return e2;
    std::memcpy(key_.src, ip_bytes(c_.src, c_.v4_table), c_.ip_len());
    std::memcpy(key_.dst, ip_bytes(c_.r.dst, c_.v4_table), c_.ip_len());
    key_.dport = c_.r.dst.port();
    key_.family = uint16_t(c_.family());
    key_.ifindex = c_.ifindex;
    alone_ = !c_.prev_reuse &&
             (!lpr_ || now_ms() >= c_.ns->alone_after_ms.load(std::memory_order_relaxed));
    reuse_ = c_.prev_reuse != 0;
    return 0;
}

// The source IP, asked of the route when the caller left it open and something needs it (the
// lock, lookups, a bind); the walk of that source from then on.
int port_search::source() {
    if (c_.source_known) return 0;
    if (int e = know_source(c_)) return e;
    std::memcpy(key_.src, ip_bytes(c_.src, c_.v4_table), c_.ip_len());
    return 0;
}

// The candidate ports: namespace range, per-call range, the socket's own IP_LOCAL_PORT_RANGE
// (whose bounds apply only inside the namespace's, as the kernel does). EAGAIN when empty.
int port_search::span(port_span& out) {
    port_span ns_range;
    {
        std::lock_guard lock(c_.ns->mu);
        ns_range = c_.ns->range;
    }
    port_span s = ns_range;
    if (c_.r.has_range()) {
        auto i = intersect(s, {c_.r.port_lo, c_.r.port_hi});
        if (!i) return EAGAIN;
        s = *i;
    }
    auto n = narrow_by_socket_range(s, ns_range, prev_lpr_);
    if (!n) return EAGAIN;
    out = *n;
    return 0;
}

// Asks the kernel about the next batch of ports toward dst, in one round trip: those no socket
// would receive for become candidates (blocked ones wait for the retry before EAGAIN).
int port_search::probe(port_span span) {
    uint16_t ports[kSockDiagBatchMax];
    size_t n;
    {
        std::lock_guard lock(c_.ns->mu);
        uint32_t visited = 0;
        n = hints_of(c_).next_to_probe(key_, span, c_.ns->reserved, ports, kSockDiagBatchMax,
                                       visited);
        looked_ += visited;
    }
    if (n == 0) return 0;
    if (int e = source()) return e;
    diag_tuple t[kSockDiagBatchMax];
    for (size_t i = 0; i < n; ++i)
        if (int e = tuple_for(c_, ports[i], t[i])) return e;
    if (int e = lease_diag(c_)) return e;
    diag_answer a[kSockDiagBatchMax];
    const uint32_t seq0 = c_.diag.next_seq();
    for (size_t i = 1; i < n; ++i) c_.diag.next_seq();
    ++c_.res.lookups;  // one round trip
    if (int e =
            sock_diag_lookup_batch(c_.diag.fd(), c_.diag.portid(), seq0, IPPROTO_UDP, t, n, a)) {
        c_.diag.discard();  // late answers may still come
        c_.diag_leased = false;
        return e;
    }
    uint16_t free[kSockDiagBatchMax];
    size_t nfree = 0;
    for (size_t i = 0; i < n; ++i) {
        if (a[i].cookie) {
            c_.ns->diag_answered.store(true, std::memory_order_relaxed);
            if (a[i].in_flight) note_in_flight(ports[i]);
            continue;
        }
        if (!hints_of(c_).is_blocked(key_, ports[i])) free[nfree++] = ports[i];
    }
    hints_of(c_).add_free(key_, free, nfree);
    return 0;
}

// The next port to try. 0 in `port` with 0 returned: none is left, EAGAIN unless the caller
// finds a reason to look again.
int port_search::next_candidate(port_span span, uint16_t& port, bool& walked) {
    for (;;) {
        bool from_walk = false;
        {
            std::lock_guard lock(c_.ns->mu);
            port = hints_of(c_).pick(key_, span, c_.ns->reserved, from_walk);
        }
        walked = from_walk;
        if (port) return 0;
        if (alone_ && looked_ < span.size()) {
            // A port bound alone needs no lookup: the next one in probing order, as it is. If
            // someone holds it, the bind fails and the search takes the lock from then on.
            std::lock_guard lock(c_.ns->mu);
            uint32_t visited = 0;
            const size_t got =
                hints_of(c_).next_to_probe(key_, span, c_.ns->reserved, &port, 1, visited);
            looked_ += visited;
            if (got == 1) return 0;
        }
        if (looked_ >= span.size()) return 0;
        if (int e = probe(span)) return e;
    }
}

void port_search::alone_failed() {
    alone_ = false;
    if (!lpr_) return;
    uint32_t before = c_.ns->alone_failures.fetch_add(1, std::memory_order_relaxed);
    uint64_t wait = std::min(kAloneWaitMaxMs, kAloneWaitMs << std::min(before, 4u));
    c_.ns->alone_after_ms.store(now_ms() + wait, std::memory_order_relaxed);
}

// Binds to `port` (see the top of the file); `at` is the address bound, its port as asked.
int port_search::bind_candidate(uint16_t port, address& at) {
    if (!alone_ && !reuse_) {
        if (int e = set_reuse(c_, 1)) return e;
        reuse_ = true;
    }
    at = c_.src;
    if (lpr_) {
        if (!alone_)
            if (int e = no_port_off(c_)) return e;
        // The kernel binds the one port of [port, port] and does not user-lock it.
        uint32_t one = uint32_t(port) << 16 | port;
        if (int e = sys::setsockopt_int(c_.fd(), IPPROTO_IP, IP_LOCAL_PORT_RANGE, int(one)))
            return e;
        at.set_port(0);
    } else {
        at.set_port(port);
    }
    int e = sys::bind(c_.fd(), at.sa(), at.size());
    at.set_port(port);
    return e;
}

// Unbinds after a lost candidate (connect(AF_UNSPEC) gives back a port bound through the range),
// and sets the device again, which that clears.
int port_search::give_back() {
    if (int e = know_device(c_)) return e;
    sys::disconnect(c_.fd());
    if (c_.rebind_device)
        if (int e = sys::setsockopt_int(c_.fd(), SOL_SOCKET, SO_BINDTOIFINDEX, int(c_.ifindex)))
            return e;
    return 0;
}

int port_search::try_candidate(uint16_t port, outcome& out) {
    ++c_.res.attempts;
    landed_known_ = false;
    if (alone_ && lpr_ && !check_landing_) return try_alone(port, out);
    if (!alone_ && lpr_) return try_locked(port, out);
    if (int e = source()) return e;
    address at;
    if (int e = bind_candidate(port, at)) {
        if (e != EADDRINUSE) return e;
        if (alone_) {  // held by someone, maybe sharable toward dst: again, under the lock
            alone_failed();
            return try_candidate(port, out);
        }
        // Another process's lock, or its bind alone, lasts a few microseconds: once more.
        sched_yield();
        if (bind_candidate(port, at) == 0) return lock_candidate(port, at, out);
        return pass_over_blocked(port, out);
    }
    if (alone_ && lpr_ && check_landing_) {
        // The kernel ignores a socket's range outside ip_local_port_range and binds another
        // port from there: a range changed since it was read.
        uint16_t landed = 0;
        if (int e = bound_port(c_.fd(), landed)) return e;
        if (landed == 0) {  // IP_BIND_ADDRESS_NO_PORT: the bind took no port
            if (int e = give_back()) return e;
            if (int e = no_port_off(c_)) return e;
            return try_candidate(port, out);
        }
        if (landed != port) {
            out = outcome::elsewhere;
            return give_back();
        }
        landed_known_ = true;
    }
    return lock_candidate(port, at, out);
}

// The candidate is bound (alone or shared): connect alone, or lock, check and connect.
int port_search::lock_candidate(uint16_t port, const address& at, outcome& out) {
    int r;
    bool elsewhere = false;
    if (alone_) {
        r = connect_alone(c_);
    } else {
        c_.res.technique = CONNECTX_TECH_UDP_LOCK;
        c_.check_bound = lpr_;  // only the bind through the range can land elsewhere
        r = lock_and_connect(c_, port, elsewhere);
    }
    return after_connect(port, at, r, elsewhere, out);
}

// The common case in one go: P bound alone through the range, where the bind lands needing no
// check (the span is the namespace's range), connect, share, the range put back. sock_ops makes
// it one system call where the kernel can; what follows a failure is lock_candidate's. With the
// source IP left open and not yet needed, the bind is to the wildcard address (so no socket may
// hold P on any address) and connect() takes the source the route gives this socket, as plain
// connect(2) does, with every key of the socket's own.
// A connect() that must take the port itself (the caller's IP_BIND_ADDRESS_NO_PORT kept the bind
// from taking it) and finds it taken answers EAGAIN, which io_uring does not give back at once: it
// waits for the socket to be writable and retries from a worker thread, ~33 ms here. Once a
// process has seen that, its calls clear the option first (no_port_off; finish() sets it back).
int port_search::try_alone(uint16_t port, outcome& out) {
    if (g_no_port_seen.load(std::memory_order_relaxed))
        if (int e = no_port_off(c_)) return e;
    address at = c_.src;
    at.set_port(0);
    sock_ops chain(c_.fd(), sock_ops::mode::chain);
    chain.set(IPPROTO_IP, IP_LOCAL_PORT_RANGE, int(uint32_t(port) << 16 | port));
    chain.bind(at.sa(), at.size());
    chain.connect(c_.r.dst.sa(), c_.r.dst.size());
    chain.set(SOL_SOCKET, SO_REUSEADDR, 1);
    chain.set(IPPROTO_IP, IP_LOCAL_PORT_RANGE, int(prev_lpr_));
    chain.run();
    if (int e = chain.error(0)) return e;
    if (int e = chain.error(1)) {
        if (e != EADDRINUSE) return e;
        alone_failed();  // held by someone, maybe sharable toward dst: again, under the lock
        return try_candidate(port, out);
    }
    if (chain.error(2) == EAGAIN) g_no_port_seen.store(true, std::memory_order_relaxed);
    c_.res.technique = CONNECTX_TECH_UDP_ALONE;
    const int r = share_after_connect(c_, chain.error(2), chain.error(3));
    range_put_back_ = r == 0 && chain.error(4) == 0;
    at.set_port(port);
    return after_connect(port, at, r, false, out);
}

// The lock through the range, in two batches around its lookup: SO_REUSEADDR=1, [P,P], bind,
// SO_REUSEADDR=0 (locked) and SO_COOKIE; then, if the lookup names our socket, connect,
// SO_REUSEADDR=1 and the range put back (locked_connect). The steps and their order are
// bind_candidate's then lock_candidate's, and so is what follows each failure: a bind refused
// is tried once more after a yield (another process's lock lasts microseconds), then the port
// is passed over as blocked. IP_BIND_ADDRESS_NO_PORT is read and cleared first only once the
// process has seen it set (g_no_port_seen): before that, the lookup finds out.
int port_search::try_locked(uint16_t port, outcome& out) {
    if (int e = source()) return e;
    if (g_no_port_seen.load(std::memory_order_relaxed))
        if (int e = no_port_off(c_)) return e;
    address at = c_.src;
    at.set_port(0);
    uint64_t cookie = 0;
    int locked = 0, cookie_read = 0;
    for (int round = 0;; ++round) {
        sock_ops lock(c_.fd(), sock_ops::mode::chain);
        lock.set(SOL_SOCKET, SO_REUSEADDR, 1);
        lock.set(IPPROTO_IP, IP_LOCAL_PORT_RANGE, int(uint32_t(port) << 16 | port));
        lock.bind(at.sa(), at.size());
        lock.set(SOL_SOCKET, SO_REUSEADDR, 0);
        lock.get(SOL_SOCKET, SO_COOKIE, &cookie, sizeof cookie);
        lock.run();
        if (lock.error(0) == 0) reuse_ = true;
        const int e = lock.error(0) ? lock.error(0) : lock.error(1) ? lock.error(1) : lock.error(2);
        if (e == 0) {
            locked = lock.error(3);
            cookie_read = lock.error(4);
            break;
        }
        if (round == 0) {
            if (e != EADDRINUSE) return e;
            sched_yield();
            continue;
        }
        return pass_over_blocked(port, out);
    }
    at.set_port(port);
    c_.res.technique = CONNECTX_TECH_UDP_LOCK;
    c_.check_bound = true;  // the bind through the range can land elsewhere
    bool elsewhere = false;
    int r;
    if (locked) {
        r = locked;  // as lock_and_connect: not locked, nothing more
    } else if (cookie_read) {
        r = connect_and_share(c_, cookie_read);  // the lock released, not connected
    } else {
        c_.cookie = cookie;
        r = locked_connect(c_, port, prev_lpr_, elsewhere, range_put_back_);
    }
    if (c_.bound_no_port && !c_.no_port_read) {
        // The caller's IP_BIND_ADDRESS_NO_PORT kept the bind from taking P (the lookup found the
        // socket on no port): released and unconnected, it is bound to the address alone, which
        // a bind may replace. Once more with the option cleared, as every lock of the process
        // from now on.
        c_.bound_no_port = false;
        g_no_port_seen.store(true, std::memory_order_relaxed);
        if (int e = give_back()) return e;
        if (int e = no_port_off(c_)) return e;
        return try_locked(port, out);
    }
    return after_connect(port, at, r, elsewhere, out);
}

// A bind with SO_REUSEADDR refused twice: a socket holds P without it (or another process's
// lock held it both times). Marked for a while, and looked at again before EAGAIN, as a port in
// flight.
int port_search::pass_over_blocked(uint16_t port, outcome& out) {
    hints_of(c_).mark_blocked(key_, port);
    note_in_flight(port);
    out = outcome::blocked;
    return 0;
}

// After the connect of a bound candidate, whose errno is `r`: done, or the candidate let go.
int port_search::after_connect(uint16_t port, const address& at, int r, bool elsewhere,
                               outcome& out) {
    if (alone_ && r == EAGAIN && lpr_) {
        // IP_BIND_ADDRESS_NO_PORT left the port to connect(), which found it taken.
        reuse_ = true;  // shared by connect_and_share
        if (int e = give_back()) return e;
        if (int e = no_port_off(c_)) return e;
        alone_failed();
        return try_candidate(port, out);
    }
    if (r == 0) {
        out = outcome::connected;
        // Where the socket is, when known; otherwise the caller's result asks (connect.cpp).
        if (!alone_ || !lpr_ || landed_known_) report_local(c_, at.sa(), at.size());
        return 0;
    }
    const bool was_alone = alone_;
    alone_ = false;
    if (!lpr_) {  // bound for good: the lock is released, nothing more to undo
        c_.bound_shared = !was_alone;
        if (int e = know_device(c_)) return e;
        return r;
    }
    if (r != EADDRINUSE) {
        give_back();
        return r;
    }
    out = elsewhere ? outcome::elsewhere : outcome::taken;
    if (!elsewhere && c_.found_in_flight) note_in_flight(port);
    return give_back();
}

// Restores what the search changed on an unconnected socket: its port range; finish() in
// udp_connect.cpp puts back SO_REUSEADDR and the device.
int port_search::fail(int e) {
    if (lpr_) sys::setsockopt_int(c_.fd(), IPPROTO_IP, IP_LOCAL_PORT_RANGE, int(prev_lpr_));
    return e;
}

// Looks again, after a moment, at the ports where a socket in flight was: one that the lookups
// now find free (its connectx() went on, toward another destination) becomes the candidate.
int port_search::recheck(uint16_t& port) {
    static constexpr useconds_t kWaitUs[kRechecks] = {200, 1000, 4000, 16000, 64000, 256000};
    usleep(kWaitUs[rechecks_++]);
    port = 0;
    diag_tuple t[kRecheck];
    diag_answer a[kRecheck];
    const size_t n = std::min(nrecheck_, size_t(kSockDiagBatchMax));
    if (int e = source()) return e;
    for (size_t i = 0; i < n; ++i)
        if (int e = tuple_for(c_, recheck_[i], t[i])) return e;
    if (int e = lease_diag(c_)) return e;
    const uint32_t seq0 = c_.diag.next_seq();
    for (size_t i = 1; i < n; ++i) c_.diag.next_seq();
    ++c_.res.lookups;
    if (int e =
            sock_diag_lookup_batch(c_.diag.fd(), c_.diag.portid(), seq0, IPPROTO_UDP, t, n, a)) {
        c_.diag.discard();
        c_.diag_leased = false;
        return e;
    }
    size_t keep = 0;
    uint16_t free[kSockDiagBatchMax];
    size_t nfree = 0;
    for (size_t i = 0; i < n; ++i) {
        if (!a[i].cookie)
            free[nfree++] = recheck_[i];
        else if (a[i].in_flight)
            recheck_[keep++] = recheck_[i];  // still there: maybe later
    }
    nrecheck_ = keep;
    if (nfree == 0) return 0;
    port = free[--nfree];
    hints_of(c_).add_free(key_, free, nfree);
    return 0;
}

int port_search::run() {
    if (int e = start()) return fail(e);
    for (;;) {
        port_span s;
        if (int e = span(s)) {
            if (fresh_) return fail(e);
            if (int e2 = refresh()) return fail(e2);
            continue;
        }
        if (s != span_) {  // a new span (the sysctls changed): nothing of it was looked at
            span_ = s;
            looked_ = 0;
        }
        uint16_t port = 0;
        bool walked = false;
        if (int e = next_candidate(s, port, walked)) return fail(e);
        if (port == 0) {
            // Every usable port was looked at: unless the sysctls, read now, say otherwise, or
            // a port marked blocked was only locked for a moment by another process.
            if (!fresh_) {
                if (int e = refresh()) return fail(e);
                continue;
            }
            if (!final_round_) {
                final_round_ = true;
                hints_of(c_).clear_blocked(key_);
                looked_ = 0;
                continue;
            }
            if (nrecheck_ == 0 || rechecks_ == kRechecks) return fail(EAGAIN);
            if (int e = recheck(port)) return fail(e);
            if (port == 0) continue;
        }
        outcome o;
        if (int e = try_candidate(port, o)) return fail(e);
        switch (o) {
            case outcome::connected:
                if (lpr_) {
                    if (!range_put_back_)
                        sys::setsockopt_int(c_.fd(), IPPROTO_IP, IP_LOCAL_PORT_RANGE,
                                            int(prev_lpr_));
                    if (c_.res.technique == CONNECTX_TECH_UDP_ALONE)
                        c_.ns->alone_failures.store(0, std::memory_order_relaxed);
                }
                return 0;
            case outcome::taken:
                // The walk is no better than any port now: probe instead.
                if (walked) hints_of(c_).end_walk(key_);
                break;
            case outcome::blocked:
                // Maybe reserved since the sysctls were last read.
                if (!fresh_)
                    if (int e = refresh()) return fail(e);
                break;
            case outcome::elsewhere:
                if (int e = refresh()) return fail(e);
                if (++elsewhere_ > kMaxElsewhere) return fail(EAGAIN);
                break;
        }
    }
}

}  // namespace

int udp_port_search(udp_call& c) {
    port_search s(c);
    return s.run();
}

}  // namespace cx::detail
