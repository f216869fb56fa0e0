// udp_lock.cpp - the steps of "SO_REUSEADDR as a lock" for one UDP call (see udp_call.hpp):
//   cookie; SO_REUSEADDR=1; bind; SO_REUSEADDR=0 (no cooperating socket can bind the port now);
//   exact SOCK_DIAG lookup of (dst -> local), which must name our own socket; connect;
//   SO_REUSEADDR=1 (others may share the local port toward other destinations).
// And the bind alone: bound without SO_REUSEADDR, a port is ours alone (such a bind conflicts
// with every socket on the address or the wildcard, whatever their options), so connect and
// SO_REUSEADDR=1 suffice, with no lookup.
// Fail closed: a lookup that cannot be made or read ends the call with its errno; "not found" for
// our own bound socket is never read as "free".
#include <linux/netlink.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

#include "route_source.hpp"
#include "sock_ops.hpp"
#include "sys.hpp"
#include "udp_call.hpp"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif
#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51
#endif

namespace cx::detail {
namespace {

// Lookups repeated when our own locked socket is not found where udp_diag answers (see
// verify_locked).
constexpr int kNotFoundRetries = 3;

// Our socket is bound to src:port with SO_REUSEADDR=0. 0 when the lookup names it, EADDRINUSE
// when it names another socket; an errno when the answer cannot be trusted. Not finding our own
// bound socket can be a transient: the kernel answers "not found" when the best match it found
// is a socket being closed at that instant (its refcount is already zero), seen under churn by
// the race test. So it asks again a few times; still nothing is EPROTO where udp_diag has named
// a socket before, and EPROTONOSUPPORT (udp_diag does not answer here) where it never has.
// Before any of that, an answer that is not ours is checked against where the socket really is
// (c.check_bound: `elsewhere`, and c.bound_no_port when the bind took no port at all) and, if
// its device was not read yet, asked again naming it.
int verify_locked(udp_call& c, uint16_t port, bool& elsewhere) {
    if (!c.cookie)
        if (int e = sys::getsockopt_u64(c.fd(), SOL_SOCKET, SO_COOKIE, c.cookie)) return e;
    for (int attempt = 0;; ++attempt) {
        diag_answer a;
        if (int e = lookup(c, port, a)) return e;
        if (a.cookie && *a.cookie == c.cookie)  // ours cannot leave its port while locked
            return a.moved ? EPROTO : 0;
        if (c.check_bound) {
            // Not ours: first make sure the socket is where the lookup looked.
            c.check_bound = false;
            uint16_t at = 0;
            if (int e = bound_port(c.fd(), at)) return e;
            if (at != port) {
                elsewhere = true;
                c.bound_no_port = at == 0;
                return EADDRINUSE;
            }
        }
        if (!c.device_known) {
            uint32_t named = c.arrival;
            if (int e = know_device(c)) return e;
            if (c.ifindex && c.ifindex != named) {  // looked on another device: again, on its own
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

}  // namespace

// (As getsockname shows it: an IPv6 source's flow label is not part of it.)
void report_local(udp_call& c, const sockaddr* sa, socklen_t len) {
    std::memcpy(&c.res.local, sa, len);
    if (sa->sa_family == AF_INET6) reinterpret_cast<sockaddr_in6*>(&c.res.local)->sin6_flowinfo = 0;
}

int no_port_off(udp_call& c) {
    if (c.no_port_read) return 0;
    if (int e = sys::getsockopt_int(c.fd(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, c.prev_no_port))
        return e;
    c.no_port_read = true;
    if (!c.prev_no_port) return 0;
    return sys::setsockopt_int(c.fd(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 0);
}

int set_reuse(const udp_call& c, int v) {
    return sys::setsockopt_int(c.fd(), SOL_SOCKET, SO_REUSEADDR, v);
}

// In the common case (an IPv4 or global IPv6 source given, no device asked for) the device is
// read only when needed: before anything that clears it (connect(AF_UNSPEC)), and when a locked
// lookup does not name our socket (it named the flow's arrival device; ours may be elsewhere).
int know_device(udp_call& c) {
    if (c.device_known) return 0;
    int bound = 0;
    if (int e = sys::getsockopt_int(c.fd(), SOL_SOCKET, SO_BINDTOIFINDEX, bound)) return e;
    c.ifindex = uint32_t(bound);
    c.rebind_device = bound != 0;
    c.device_known = true;
    return 0;
}

int bound_port(int fd, uint16_t& port) {
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (int e = sys::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), len)) return e;
    port = ss.ss_family == AF_INET ? ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port)
                                   : ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port);
    return 0;
}

int lease_diag(udp_call& c) {
    if (c.diag_leased) return 0;
    if (int e = c.ns->lease(NETLINK_SOCK_DIAG, c.fd(), c.diag)) return e;
    c.diag_leased = true;
    return 0;
}

// udp_diag's exact lookup is the receive path's: it finds a socket bound to a device only when
// the lookup names that device, and unbound ones always. A socket bound to a device must name it;
// one without must name the device the flow arrives on (the route's toward dst), or a flow of
// another socket bound there stays invisible and is duplicated.
int lookup_device(udp_call& c, uint32_t& dev) {
    if (c.ifindex) {
        dev = c.ifindex;
        return 0;
    }
    if (!c.arrival)
        if (int e = route_device(*c.ns, c.fd(), c.src, c.r.dst, c.arrival)) return e;
    dev = c.arrival;
    return 0;
}

int tuple_for(udp_call& c, uint16_t port, diag_tuple& t) {
    if (int e = lookup_device(c, t.ifindex)) return e;
    t.family = c.family();
    std::memcpy(t.local, ip_bytes(c.src, c.v4_table), c.ip_len());
    std::memcpy(t.remote, ip_bytes(c.r.dst, c.v4_table), c.ip_len());
    t.local_port = port;
    t.remote_port = c.r.dst.port();
    return 0;
}

// Counts the lookup, and marks the namespace's udp_diag as answering when it names any socket.
int lookup(udp_call& c, uint16_t port, diag_answer& out) {
    diag_tuple t;
    if (int e = tuple_for(c, port, t)) return e;
    if (int e = lease_diag(c)) return e;
    ++c.res.lookups;
    int e = sock_diag_lookup(c.diag.fd(), c.diag.portid(), c.diag.next_seq(), IPPROTO_UDP, t, out);
    if (e) {
        c.diag.discard();  // it may still receive the late answer
        c.diag_leased = false;
        return e;
    }
    if (out.cookie) c.ns->diag_answered.store(true, std::memory_order_relaxed);
    c.found_in_flight = out.cookie && out.in_flight;
    return 0;
}

int share_after_connect(udp_call& c, int connected, int shared) {
    if (connected) {
        if (shared == ECANCELED) (void)set_reuse(c, 1);  // a chain stopped at connect
        return connected;
    }
    if (shared) sys::disconnect(c.fd());  // connected but not shared: undone
    return shared;
}

int connect_and_share(udp_call& c, int e) {
    if (e == 0) e = sys::connect(c.fd(), c.r.dst.sa(), c.r.dst.size());
    return share_after_connect(c, e, set_reuse(c, 1));
}

// On failure the lock is released (SO_REUSEADDR=1) and the socket is not connected; it stays
// bound.
int lock_and_connect(udp_call& c, uint16_t port, bool& elsewhere) {
    elsewhere = false;
    if (int e = set_reuse(c, 0)) return e;
    return connect_and_share(c, verify_locked(c, port, elsewhere));
}

int locked_connect(udp_call& c, uint16_t port, uint32_t range, bool& elsewhere, bool& put_back) {
    elsewhere = false;
    put_back = false;
    if (int e = verify_locked(c, port, elsewhere)) return connect_and_share(c, e);
    sock_ops chain(c.fd(), sock_ops::mode::chain);
    chain.connect(c.r.dst.sa(), c.r.dst.size());
    chain.set(SOL_SOCKET, SO_REUSEADDR, 1);
    chain.set(IPPROTO_IP, IP_LOCAL_PORT_RANGE, int(range));
    chain.run();
    const int e = share_after_connect(c, chain.error(0), chain.error(1));
    put_back = e == 0 && chain.error(2) == 0;
    return e;
}

int connect_alone(udp_call& c) {
    c.res.technique = CONNECTX_TECH_UDP_ALONE;
    return connect_and_share(c, 0);
}

}  // namespace cx::detail
