// udp_connect.cpp - the UDP path. The kernel keeps connected UDP sockets unique per local
// (address, port) only without SO_REUSEADDR, and with it not at all; so the library makes 4-tuples
// unique itself, with SO_REUSEADDR as a lock (udp_lock.cpp), or with a bind alone where a port is
// held by no one. Cases:
//   src IP and port    alone; if the port is held, the lock on it, with a pre-check lookup first
//                      so a taken 4-tuple is refused before the socket is touched.
//   src IP             the port search (udp_port_search.cpp).
//   nothing            the port search too; the source IP from the routing table (RTM_GETROUTE)
//                      only where the lock or a lookup needs it (know_source).
// This file holds what every case shares: the setup and the end of a call.
#include <net/if.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

#include "netns_registry.hpp"
#include "request.hpp"
#include "route_source.hpp"
#include "sock_ops.hpp"
#include "socket_kind.hpp"
#include "sys.hpp"
#include "udp_call.hpp"
#include "udp_port_search.hpp"

namespace cx::detail {
namespace {

// Per-call setup shared by all cases: namespace state, previous SO_REUSEADDR, device.
// SO_REUSEPORT is refused: a bind does not conflict with a socket of the same user that has it
// too, so neither the lock nor a bind alone would exclude such a socket.
int begin(udp_call& c) {
    c.res.technique = CONNECTX_TECH_UDP_LOCK;
    c.v4_table = c.r.family == AF_INET || c.r.dst_v4_mapped();
    // Asked with the socket's kind, or now.
    udp_answers a = c.r.kind.udp;
    if (!a.asked) ask_udp_answers(c.fd(), !c.r.src_ip_given, a);
    if (int e = a.reuseport_error) return e;
    if (a.reuseport) return EINVAL;
    if (int e = netns_for_cookie(c.fd(), a.netns_cookie_error, a.netns_cookie, c.ns)) return e;
    if (int e = a.reuseaddr_error) return e;
    c.prev_reuse = a.reuseaddr;
    c.reuse_read = true;
    // IP_BIND_ADDRESS_NO_PORT matters only to a bind of port 0 under the lock: the port search
    // asks for it there (no_port_off).
    // bind(2) and connect(2) of a scoped address set the device before they can fail, and do
    // not undo it: with one, as with opts.ifindex, the device is read first, to be put back.
    const bool scoped = c.r.src.needs_scope() || c.r.dst.needs_scope();
    if (c.r.ifindex || scoped) {
        if (int e = sys::getsockopt_int(c.fd(), SOL_SOCKET, SO_BINDTOIFINDEX, c.prev_device))
            return e;
        c.device_set = true;
    }
    if (c.r.ifindex) {
        if (int e = sys::setsockopt_int(c.fd(), SOL_SOCKET, SO_BINDTOIFINDEX, c.r.ifindex))
            return e;
        c.ifindex = uint32_t(c.r.ifindex);
        c.rebind_device = true;
    } else if (c.r.src_ip_given && !c.r.dst.needs_scope() && !c.r.src.needs_scope()) {
        c.device_known = false;  // a given, non-link-local IP: read when needed, see know_device
    } else if (a.device_asked) {
        if (int e = a.device_error) return e;
        c.ifindex = uint32_t(a.device);
        c.rebind_device = a.device != 0;
    } else {
        c.device_known = false;
        if (int e = know_device(c)) return e;
    }
    // A link-local destination is reached through its scope's device; bind() of the scoped
    // source binds the socket there.
    // A scoped source binds the socket to its scope's device, as a scoped destination does.
    if (!c.ifindex && c.r.dst.needs_scope()) c.ifindex = c.r.dst.scope_id();
    if (!c.ifindex && c.r.src.needs_scope()) c.ifindex = c.r.src.scope_id();
    c.src = c.r.src;
    c.source_known = c.r.src_ip_given;
    return 0;
}


// --- explicit port -------------------------------------------------------------------------------

int connect_explicit(udp_call& c) {
    uint16_t port = c.src.port();
    c.res.attempts = 1;
    // Alone: a failed bind costs one hash slot's walk and leaves the socket as it was. The bind,
    // connect and SO_REUSEADDR=1 go in one system call where the kernel can (sock_ops.hpp).
    if (!c.prev_reuse) {
        sock_ops chain(c.fd(), sock_ops::mode::chain);
        chain.bind(c.src.sa(), c.src.size());
        chain.connect(c.r.dst.sa(), c.r.dst.size());
        chain.set(SOL_SOCKET, SO_REUSEADDR, 1);
        chain.run();
        int e = chain.error(0);
        if (e == 0) {
            c.res.technique = CONNECTX_TECH_UDP_ALONE;
            e = share_after_connect(c, chain.error(1), chain.error(2));
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
        (void)set_reuse(c, c.prev_reuse);  // best effort: the bind's errno matters more
        return e;
    }
    c.bound_shared = true;
    bool elsewhere = false;  // an explicit bind cannot land elsewhere
    int e = lock_and_connect(c, port, elsewhere);
    if (e == 0) report_local(c, c.src.sa(), c.src.size());
    return e;
}

// After the call, whatever its outcome: IP_BIND_ADDRESS_NO_PORT as the caller had it; after a
// failure also SO_REUSEADDR and the device as they were, and no association. One exception: a
// socket bound for good (an explicit port; any port before 6.3) to a port it shares with other
// flows keeps SO_REUSEADDR=1, since 0 there would lock those flows' peers out of the port until
// the caller closes it. A port it holds alone it keeps as after bind(2).
int finish(udp_call& c, int e) {
    if (c.prev_no_port) sys::setsockopt_int(c.fd(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1);
    if (e == 0) return 0;
    if (c.reuse_read && !c.bound_shared) (void)set_reuse(c, c.prev_reuse);
    if (c.device_set) sys::setsockopt_int(c.fd(), SOL_SOCKET, SO_BINDTOIFINDEX, c.prev_device);
    return e;
}

int udp_connect_begun(udp_call& c) {
    if (c.r.src_port() != 0) {
        if (int e = know_source(c)) return e;
        return connect_explicit(c);
    }
    return udp_port_search(c);  // asks know_source when it needs the address
}

}  // namespace

// Lock and lookups need the concrete local address: with a wildcard one (even with a fixed port)
// the check would look at the wildcard, not at the address the route picks, and let a duplicate
// 4-tuple through. The route's device is the one the flow arrives on.
int know_source(udp_call& c) {
    if (c.source_known) return 0;
    if (int e = route_source(*c.ns, c.fd(), IPPROTO_UDP, c.r.dst, c.ifindex, c.src, &c.arrival))
        return e;
    c.source_known = true;
    // The route may pick a scoped source (a link-local one toward a site-scope group): binding it
    // sets the device, which a failure must put back, and lookups must name.
    if (c.src.needs_scope()) {
        if (!c.device_set) {
            if (int e = sys::getsockopt_int(c.fd(), SOL_SOCKET, SO_BINDTOIFINDEX, c.prev_device))
                return e;
            c.device_set = true;
        }
        if (!c.ifindex) c.ifindex = c.src.scope_id();
    }
    return 0;
}

int udp_connect(const request& r, connectx_result& res) noexcept {
    udp_call c(r, res);
    int e = begin(c);
    if (e == 0) e = udp_connect_begun(c);
    return finish(c, e);
}

}  // namespace cx::detail
