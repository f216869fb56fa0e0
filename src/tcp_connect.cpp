// tcp_connect.cpp - the TCP path. The kernel keeps TCP 4-tuples unique by itself; the work is to
// bind without locking a port per connection:
//   no source            connect()
//   source IP            IP_BIND_ADDRESS_NO_PORT + bind(ip, 0) + connect()
//   source IP and port   SO_REUSEADDR + bind(ip, port) + connect()
//   port range           IP_LOCAL_PORT_RANGE (6.3+) narrows the kernel's own pick; otherwise
//                        explicit ports of the range with SO_REUSEADDR.
// connect() is called once: EINTR and EINPROGRESS go back to the caller, who must not re-bind.
#include <netinet/in.h>

#include <cerrno>

#include "port_range.hpp"
#include "request.hpp"
#include "sys.hpp"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif
#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51
#endif

namespace cx::detail {
namespace {

int bind_to_interface(const request& r) {
    if (!r.ifindex) return 0;
    return sys::setsockopt_int(r.fd, SOL_SOCKET, SO_BINDTOIFINDEX, r.ifindex);
}

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
int connect_no_port(const request& r) {
    if (r.src_ip_given) {
        if (int e = sys::setsockopt_int(r.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)) return e;
        if (int e = sys::bind(r.fd, r.src.sa(), r.src.size())) {
            sys::setsockopt_int(r.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 0);
            return e;
        }
    }
    return sys::connect(r.fd, r.dst.sa(), r.dst.size());
}

// Explicit ports of the range, from a random start, skipping reserved ports. A port whose bind
// fails (a listener, or a socket without SO_REUSEADDR holds it) is passed over; the socket is
// still unbound then. Once bound, the socket cannot move to another port, so connect()'s answer
// is final: EADDRNOTAVAIL when the 4-tuple is taken.
int connect_explicit_ports(const request& r, connectx_result& res) {
    res.technique = CONNECTX_TECH_EXPLICIT_PORTS;
    reserved_ports reserved;
    if (read_reserved_ports(reserved) != 0) reserved.clear();  // unreadable: nothing reserved
    port_span span{r.port_lo, r.port_hi};
    uint32_t n = span.size();
    uint32_t start = random_below(n);
    address src = r.src;
    for (uint32_t i = 0; i < n; ++i) {
        uint16_t port = uint16_t(span.lo + (start + i) % n);
        if (reserved.test(port)) continue;
        ++res.attempts;
        src.set_port(port);
        int e = connect_fixed_port(r, src);
        if (e == EADDRINUSE) continue;
        return e;
    }
    return EADDRNOTAVAIL;
}

// The kernel picks within the range when it can: the range must lie inside the namespace's, for
// IP_LOCAL_PORT_RANGE only narrows it (a bound outside is silently ignored).
int connect_port_range(const request& r, connectx_result& res) {
    if (!(r.flags & CONNECTX_F_EXPLICIT_PORTS)) {
        port_span system;
        port_span want{r.port_lo, r.port_hi};
        if (read_port_range(system) == 0 && intersect(system, want) == want) {
            uint32_t packed = uint32_t(r.port_hi) << 16 | r.port_lo;
            int e = sys::setsockopt_int(r.fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, int(packed));
            if (e == 0) {
                res.technique = CONNECTX_TECH_LOCAL_PORT_RANGE;
                return connect_no_port(r);
            }
            if (e != ENOPROTOOPT) return e;  // before 6.3: fall back below
        }
    }
    return connect_explicit_ports(r, res);
}

}  // namespace

int tcp_connect(const request& r, connectx_result& res) noexcept {
    if (int e = bind_to_interface(r)) return e;
    if (r.src_port() != 0) {
        res.technique = CONNECTX_TECH_REUSEADDR;
        res.attempts = 1;
        return connect_fixed_port(r, r.src);
    }
    if (r.has_range()) return connect_port_range(r, res);
    res.technique = r.src_ip_given ? CONNECTX_TECH_BIND_NO_PORT : CONNECTX_TECH_CONNECT;
    return connect_no_port(r);
}

}  // namespace cx::detail
