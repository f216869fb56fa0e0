// udp_call.hpp - one UDP connectx() call in progress, and the steps of the "SO_REUSEADDR as a
// lock" that the explicit-port path and the port search share: exact lookups naming the right
// device, the locked lookup that must find our own socket, connect-then-unlock, and the bind
// alone that needs no lookup. (udp_connect.cpp explains the lock; udp_port_search.hpp the search.)
#pragma once

#include <netinet/in.h>

#include <cstddef>
#include <cstdint>

#include "netns_registry.hpp"
#include "request.hpp"
#include "sock_diag.hpp"

namespace cx::detail {

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
    int prev_device = 0;         // SO_BINDTOIFINDEX before the call (opts.ifindex, a scope)
    bool reuse_read = false;     // prev_reuse holds the caller's value
    bool device_set = false;     // prev_device was read: put it back after a failure
    bool bound_shared = false;   // bound for good to a port with SO_REUSEADDR=1 (see finish)
    int prev_no_port = 0;        // IP_BIND_ADDRESS_NO_PORT as the caller set it (cleared meanwhile)
    bool no_port_read = false;   // prev_no_port was read (no_port_off)
    bool rebind_device = false;  // connect(AF_UNSPEC) clears the bound device: set it again
    bool device_known = true;    // false: ifindex not read yet (see know_device)
    bool check_bound = false;    // a locked lookup that is not ours checks the bound port
    bool bound_no_port = false;  // ...and found none: IP_BIND_ADDRESS_NO_PORT kept the bind from
                                 // taking one (the lock held nothing)
    bool found_in_flight = false;  // the last lookup named a socket in flight (diag_answer)
    bool source_known = false;   // src holds the source IP (given, or the route's: know_source)
    address src;                 // the source; the port set per attempt

    udp_call(const request& req, connectx_result& out) : r(req), res(out) {}

    int fd() const { return r.fd; }
    int family() const { return v4_table ? AF_INET : AF_INET6; }
    size_t ip_len() const { return v4_table ? 4 : 16; }
};

// What a locked lookup can conclude besides an errno.
enum class lock_outcome {
    ours,            // the lookup names our socket: connect
    bound_elsewhere, // the socket is bound to another port than the candidate (see verify_locked)
};

// The source IP from the routing table when the caller left it open (udp_connect.cpp).
[[nodiscard]] int know_source(udp_call& c);
// Clears IP_BIND_ADDRESS_NO_PORT, once a call, for a bind of port 0 that must take the port at
// once (the lock holds a port only from its bind on); finish() sets it back.
[[nodiscard]] int no_port_off(udp_call& c);
// The local end for the caller's result, known without asking the kernel.
void report_local(udp_call& c, const sockaddr* sa, socklen_t len);
[[nodiscard]] int set_reuse(const udp_call& c, int v);
// The device the socket is bound to, read once (see udp_lock.cpp).
[[nodiscard]] int know_device(udp_call& c);
// The port socket `fd` is bound to.
[[nodiscard]] int bound_port(int fd, uint16_t& port);
// The diag socket of the call, leased on first use.
[[nodiscard]] int lease_diag(udp_call& c);
// The device a lookup names (see udp_lock.cpp).
[[nodiscard]] int lookup_device(udp_call& c, uint32_t& dev);
// The tuple of (dst -> src:port) as a lookup names it.
[[nodiscard]] int tuple_for(udp_call& c, uint16_t port, diag_tuple& t);
// Exact lookup of (dst -> src:port).
[[nodiscard]] int lookup(udp_call& c, uint16_t port, diag_answer& out);
// The socket is bound with SO_REUSEADDR=1 to `port`: lock, verify, connect, unlock. 0, an errno,
// or (through `elsewhere`) the finding that the socket is not bound to `port` at all.
[[nodiscard]] int lock_and_connect(udp_call& c, uint16_t port, bool& elsewhere);
// The same once the socket is locked (SO_REUSEADDR=0; its cookie read when c.cookie is set):
// verify, then connect, SO_REUSEADDR=1 and IP_LOCAL_PORT_RANGE=`range` in one batch
// (sock_ops.hpp); `put_back`: connected and the range set.
[[nodiscard]] int locked_connect(udp_call& c, uint16_t port, uint32_t range, bool& elsewhere,
                                 bool& put_back);
// The socket is bound alone, SO_REUSEADDR=0: connect, then share.
[[nodiscard]] int connect_alone(udp_call& c);
// The socket is bound with SO_REUSEADDR=0 and `e` says whether it may connect: connect if so,
// then SO_REUSEADDR=1 either way.
[[nodiscard]] int connect_and_share(udp_call& c, int e);
// connect_and_share's rule once connect and SO_REUSEADDR=1 were made (`connected`, `shared`:
// their errnos; ECANCELED: a chain of sock_ops.hpp stopped before the second): shared whether
// connect worked or not, connected but not shared undone. The call's errno.
[[nodiscard]] int share_after_connect(udp_call& c, int connected, int shared);

}  // namespace cx::detail
