// tcp_connect.cpp - the TCP path. The kernel keeps TCP 4-tuples unique by itself; the work is to
// bind without locking a port per connection:
//   no source            connect()
//   source IP            IP_BIND_ADDRESS_NO_PORT + bind(ip, 0) + connect()
//   source IP and port   SO_REUSEADDR + bind(ip, port) + connect()
//   port range           IP_LOCAL_PORT_RANGE (6.3+) narrows the kernel's own pick; otherwise
//                        explicit ports of the range with SO_REUSEADDR.
// Toward a busy destination the first two get a port hint (tcp_fill.hpp): connect() is then
// called a second time only after the kernel refused the hinted port with EADDRNOTAVAIL (it took
// no port). EINTR and EINPROGRESS go back to the caller, who must not re-bind.
#include <linux/netlink.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

#include "netns_registry.hpp"
#include "port_range.hpp"
#include "request.hpp"
#include "route_source.hpp"
#include "sock_diag.hpp"
#include "sock_ops.hpp"
#include "sys.hpp"
#include "tcp_fill.hpp"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif
#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51
#endif

namespace cx::detail {

// TCP with a source IP and nothing else is the common call, and a system call less counts there
// (README, "Performance"). Its bind has the kernel check the socket: a wrong family, a bound
// port, a listener or a connection fail it, and connect_no_port then asks check_socket for the
// errno. Only for a socket the one TCP question proved (socket_kind.hpp): anything else is
// checked by validate before any side effect.
bool tcp_defers_socket_check(const request& r) noexcept {
    return r.kind.proof == tcp_proof::proven && r.src_ip_given && r.src.port() == 0 &&
           !r.has_range() && r.ifindex == 0;
}

namespace {

// A failure after which the socket is not on its way to a connection: connect(2) going on in the
// background (EINPROGRESS, or EINTR of a blocking connect) keeps what it was given.
bool failed(int e) {
    return e != 0 && e != EINPROGRESS && e != EINTR;
}

// The socket's device through the call: opts.ifindex applied, and the device as it was after a
// failure. bind(2) and connect(2) of a scoped address set the device to the scope before they
// can fail, and do not undo it: with one, the device is read first too.
class interface_binding {
public:
    explicit interface_binding(const request& r) : r_(r) {}
    int apply() {
        // A range without a source IP binds the route's source, which may be a scoped one.
        const bool routed_bind = r_.has_range() && !r_.src_ip_given;
        if (!r_.ifindex && !r_.src.needs_scope() && !r_.dst.needs_scope() && !routed_bind)
            return 0;
        if (int e = sys::getsockopt_int(r_.fd, SOL_SOCKET, SO_BINDTOIFINDEX, prev_)) return e;
        applied_ = true;
        if (!r_.ifindex) return 0;
        return sys::setsockopt_int(r_.fd, SOL_SOCKET, SO_BINDTOIFINDEX, r_.ifindex);
    }
    int finish(int e) {
        if (applied_ && failed(e)) sys::setsockopt_int(r_.fd, SOL_SOCKET, SO_BINDTOIFINDEX, prev_);
        return e;
    }

private:
    const request& r_;
    int prev_ = 0;
    bool applied_ = false;
};

// SO_REUSEADDR + bind(src) + connect(dst). On a failed bind the option is put back, so the
// socket is as it was; after a failed connect it stays bound, as with connect(2).
int connect_fixed_port(const request& r, const address& src) {
    int prev;
    if (int e = sys::getsockopt_int(r.fd, SOL_SOCKET, SO_REUSEADDR, prev)) return e;
    if (!prev)
        if (int e = sys::setsockopt_int(r.fd, SOL_SOCKET, SO_REUSEADDR, 1)) return e;
    if (int e = sys::bind(r.fd, src.sa(), src.size())) {
        if (!prev) sys::setsockopt_int(r.fd, SOL_SOCKET, SO_REUSEADDR, 0);
        return e;
    }
    return sys::connect(r.fd, r.dst.sa(), r.dst.size());
}

// bind(ip, 0) without reserving a port, so connect() may share the port with other
// destinations. Without a source IP there is nothing to bind: connect() alone does it.
// IP_BIND_ADDRESS_NO_PORT is left set after success (the socket is connected: it no longer
// matters) and as the caller had it after a failure. `hint`, if any, may have narrowed the
// kernel's pick to one port: when that port is refused, connect() is tried once more.
int connect_no_port(const request& r, tcp_fill_hint* hint = nullptr) {
    auto connect_once_more = [&] {
        int e = sys::connect(r.fd, r.dst.sa(), r.dst.size());
        if (e == EADDRNOTAVAIL && hint && hint->retry())
            e = sys::connect(r.fd, r.dst.sa(), r.dst.size());
        return e;
    };
    if (r.src_ip_given) {
        int prev = 0;
        if (int e = sys::getsockopt_int(r.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, prev)) {
            if (tcp_defers_socket_check(r))
                if (int s = check_socket(r)) return s;  // not an IP socket after all: say so
            return e;
        }
        // The option and the bind in one system call where the kernel can (sock_ops.hpp).
        sock_ops chain(r.fd, sock_ops::mode::chain);
        if (!prev) chain.set(IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1);
        chain.bind(r.src.sa(), r.src.size());
        chain.run();
        if (!prev)
            if (int e = chain.error(0)) return e;
        int e = chain.error(prev ? 0 : 1);
        const bool bound = e == 0;
        if (bound) e = connect_once_more();
        if (failed(e) && !prev) sys::setsockopt_int(r.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 0);
        // The bind checked the socket on the one-question path: a socket of the wrong kind
        // fails it, and check_socket says which.
        if (!bound && tcp_defers_socket_check(r))
            if (int s = check_socket(r)) return s;
        return e;
    }
    return connect_once_more();
}

// The exact TCP lookup of (src:port -> dst): does a socket hold that 4-tuple (TIME_WAIT
// included), or a listener that port? Used only to pass over ports before binding: the kernel
// still decides at connect(), so a check that cannot be made just means "try it".
struct tuple_probe {
    nl_lease nl;
    diag_tuple t;
    bool usable = false;
    uint32_t lookups = 0;

    // `ns`: the socket's namespace state, or null (no check). `src` gets the address the route
    // picks when the caller left it open: a check on the wildcard would find nothing, while
    // connect() binds the concrete address.
    tuple_probe(const request& r, netns_state* ns, address& src) {
        if (!ns) return;
        if (!r.src_ip_given &&
            route_source(*ns, r.fd, IPPROTO_TCP, r.dst, uint32_t(r.ifindex), src) != 0)
            return;
        if (ns->lease(NETLINK_SOCK_DIAG, r.fd, nl) != 0) return;
        // IPv4-mapped tuples live in the IPv4 table.
        bool v4 = r.family == AF_INET || r.dst.is_v4_mapped();
        t.family = v4 ? AF_INET : AF_INET6;
        std::memcpy(t.local, ip_bytes(src, v4), v4 ? 4 : 16);
        std::memcpy(t.remote, ip_bytes(r.dst, v4), v4 ? 4 : 16);
        t.remote_port = r.dst.port();
        t.ifindex = r.ifindex ? uint32_t(r.ifindex) : r.dst.scope_id();
        usable = true;
    }

    bool taken(uint16_t port) {
        if (!usable) return false;
        t.local_port = port;
        diag_answer a;
        ++lookups;
        if (sock_diag_lookup(nl.fd(), nl.portid(), nl.next_seq(), IPPROTO_TCP, t, a) != 0) {
            nl.discard();  // may still receive a late answer
            usable = false;
            return false;
        }
        return a.cookie.has_value();
    }
};

// Explicit ports of `span`, from a random start, skipping reserved ports and ports whose
// 4-tuple toward dst exists. Once bound, a socket cannot move to another port, so that check
// comes first. A port whose bind fails (a listener, or a socket without SO_REUSEADDR holds it)
// is passed over too: the socket is still unbound then. connect()'s answer is final.
int connect_explicit_ports(const request& r, netns_state& ns, port_span span,
                           connectx_result& res) {
    res.technique = CONNECTX_TECH_EXPLICIT_PORTS;
    address src = r.src;
    tuple_probe probe(r, &ns, src);
    reserved_ports reserved;
    ns.reserved_copy(reserved);
    uint32_t n = span.size();
    uint32_t start = random_below(n);
    int e = EADDRNOTAVAIL;
    for (uint32_t i = 0; i < n; ++i) {
        uint16_t port = uint16_t(span.lo + (start + i) % n);
        if (reserved.test(port) || probe.taken(port)) continue;
        ++res.attempts;
        src.set_port(port);
        e = connect_fixed_port(r, src);
        if (e != EADDRINUSE) break;
        e = EADDRNOTAVAIL;
    }
    res.lookups = probe.lookups;
    return e;
}

// The kernel picks within the range when it can: the range must lie inside the namespace's, for
// IP_LOCAL_PORT_RANGE only narrows it (a bound outside is silently ignored). The socket's own
// IP_LOCAL_PORT_RANGE narrows the call's range as it narrows the kernel's (its bounds count only
// inside the namespace's range), and is as the caller set it afterwards. The sysctls are the
// socket's namespace's; when they cannot be had the call fails closed with the errno of that
// step, never picking a port that may be reserved.
int connect_port_range(const request& r, connectx_result& res) {
    netns_ref ns;
    if (int e = netns_for_socket(r.fd, ns)) return e;
    if (int e = ns->refresh_sysctls()) return e;
    const port_span system = ns->range_copy();
    int sock_range = 0;
    int e = sys::getsockopt_int(r.fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, sock_range);
    const bool lpr = e == 0;
    if (e && e != ENOPROTOOPT) return e;
    auto span = narrow_by_socket_range({r.port_lo, r.port_hi}, system, uint32_t(sock_range));
    if (!span) return EADDRNOTAVAIL;
    if (lpr && !(r.flags & CONNECTX_F_EXPLICIT_PORTS) && intersect(system, *span) == *span) {
        uint32_t packed = uint32_t(span->hi) << 16 | span->lo;
        if (int e2 = sys::setsockopt_int(r.fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, int(packed)))
            return e2;
        res.technique = CONNECTX_TECH_LOCAL_PORT_RANGE;
        e = connect_no_port(r);
        sys::setsockopt_int(r.fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, sock_range);
        return e;
    }
    return connect_explicit_ports(r, *ns, *span, res);
}

}  // namespace

int tcp_connect(const request& r, connectx_result& res) noexcept {
    interface_binding device(r);
    if (int e = device.apply()) return device.finish(e);
    if (r.src_port() != 0) {
        res.technique = CONNECTX_TECH_REUSEADDR;
        res.attempts = 1;
        return device.finish(connect_fixed_port(r, r.src));
    }
    if (r.has_range()) return device.finish(connect_port_range(r, res));
    res.technique = r.src_ip_given ? CONNECTX_TECH_BIND_NO_PORT : CONNECTX_TECH_CONNECT;
    tcp_fill_hint hint(r);
    hint.apply();
    int e = connect_no_port(r, &hint);
    hint.finish(e);
    if (hint.retried()) res.attempts = 2;
    return device.finish(e);
}

}  // namespace cx::detail
