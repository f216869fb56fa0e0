// tcp_connect.cpp - the TCP path. The kernel keeps TCP 4-tuples unique by itself; the work is to
// bind without locking a port per connection:
//   no source            connect()
//   source IP            IP_BIND_ADDRESS_NO_PORT + bind(ip, 0) + connect()
//   source IP and port   SO_REUSEADDR + bind(ip, port) + connect()
//   port range           IP_LOCAL_PORT_RANGE (6.3+) narrows the kernel's own pick; otherwise
//                        explicit ports of the range with SO_REUSEADDR.
// connect() is called once: EINTR and EINPROGRESS go back to the caller, who must not re-bind.
#include <linux/netlink.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

#include "netns_cache.hpp"
#include "port_range.hpp"
#include "request.hpp"
#include "route_lookup.hpp"
#include "sock_diag.hpp"
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
            if (!r.socket_checked)
                if (int s = check_socket(r)) return s;  // a socket of the wrong kind: say which
            return e;
        }
    }
    return sys::connect(r.fd, r.dst.sa(), r.dst.size());
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
        if (!r.src_ip_given && route_source(*ns, r.fd, r.dst, uint32_t(r.ifindex), src) != 0)
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

// Explicit ports of the range, from a random start, skipping reserved ports and ports whose
// 4-tuple toward dst exists. Once bound, a socket cannot move to another port, so that check
// comes first. A port whose bind fails (a listener, or a socket without SO_REUSEADDR holds it)
// is passed over too: the socket is still unbound then. connect()'s answer is final.
// `ns` and `sysctls_read` as connect_port_range found them.
int connect_explicit_ports(const request& r, netns_state* ns, bool sysctls_read,
                           connectx_result& res) {
    res.technique = CONNECTX_TECH_EXPLICIT_PORTS;
    address src = r.src;
    tuple_probe probe(r, ns, src);
    reserved_ports reserved;
    if (sysctls_read) {
        std::lock_guard lock(ns->mu);
        reserved = ns->reserved;
    } else if (read_reserved_ports(reserved) != 0) {
        reserved.clear();  // unreadable: nothing reserved
    }
    port_span span{r.port_lo, r.port_hi};
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
// IP_LOCAL_PORT_RANGE only narrows it (a bound outside is silently ignored). The sysctls are the
// socket's namespace's where its state can be had, else the calling thread's.
int connect_port_range(const request& r, connectx_result& res) {
    netns_ref ref;
    netns_state* ns = netns_for_socket(r.fd, ref) == 0 ? &*ref : nullptr;
    const bool sysctls_read = ns && ns->refresh_sysctls() == 0;
    if (!(r.flags & CONNECTX_F_EXPLICIT_PORTS)) {
        port_span system;
        int e = 0;
        if (sysctls_read) {
            std::lock_guard lock(ns->mu);
            system = ns->range;
        } else {
            e = read_port_range(system);
        }
        port_span want{r.port_lo, r.port_hi};
        if (e == 0 && intersect(system, want) == want) {
            uint32_t packed = uint32_t(r.port_hi) << 16 | r.port_lo;
            e = sys::setsockopt_int(r.fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, int(packed));
            if (e == 0) {
                res.technique = CONNECTX_TECH_LOCAL_PORT_RANGE;
                return connect_no_port(r);
            }
            if (e != ENOPROTOOPT) return e;  // before 6.3: fall back below
        }
    }
    return connect_explicit_ports(r, ns, sysctls_read, res);
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
