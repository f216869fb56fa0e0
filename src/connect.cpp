// connect.cpp - the one body behind connectx(3) and connectx::connect(): validate, hand the call
// to the TCP or UDP path (or to the pool, pool_connect.cpp, which calls them in turn), report
// what was chosen and count it.
#include <linux/netlink.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

#include "counters.hpp"
#include "iface_check.hpp"
#include "netns_registry.hpp"
#include "request.hpp"
#include "source_pool.hpp"
#include "sys.hpp"

namespace cx::detail {

namespace {

// One call without a pool: validate, dispatch, report into `res`.
int connect_one(int fd, const sockaddr* src, socklen_t src_len, const sockaddr* dst,
                socklen_t dst_len, const connectx_opts* opts, bool want_local, request& req,
                connectx_result& res) {
    int e = validate(fd, src, src_len, dst, dst_len, opts, req);
    // opts.ifindex is checked where the socket lives, which needs that namespace's state.
    if (e == 0 && req.ifindex) e = check_interface(req);
    if (e) return e;
    return connect_request(req, want_local, res);
}

}  // namespace

int connect_request(const request& req, bool want_local, connectx_result& res) noexcept {
    std::memset(&res, 0, sizeof res);
    int e = req.protocol == IPPROTO_TCP ? tcp_connect(req, res) : udp_connect(req, res);
    if (!want_local || (e != 0 && e != EINPROGRESS)) return e;
    // The local end as the kernel made it (for EINPROGRESS the port is already chosen), unless
    // the path already knows it (the UDP path has seen its bound address in the locked lookup).
    socklen_t len = sizeof res.local;
    if (res.local.ss_family == AF_UNSPEC &&
        sys::getsockname(req.fd, reinterpret_cast<sockaddr*>(&res.local), len) != 0)
        std::memset(&res.local, 0, sizeof res.local);
    std::memcpy(&res.remote, req.dst.sa(), req.dst.size());
    return e;
}

int connect_socket(int fd, const sockaddr* src, socklen_t src_len, const sockaddr* dst,
                   socklen_t dst_len, const connectx_opts* opts) noexcept {
    // Every input is read before any output is written: the result may overlay dst or src (or
    // the pool), so the call reports into `res` and copies it out at the end.
    connectx_opts o{};
    request req;
    connectx_result res{};
    if (opts)
        if (int e = copy_opts(opts, o)) {
            count_call(0, false, e, res);  // nothing may be written through an unread result
            return e;
        }
    const int e = source_pool::wanted(o)
                      ? connect_pool(fd, src, src_len, dst, dst_len, o, req, res)
                      : connect_one(fd, src, src_len, dst, dst_len, opts ? &o : nullptr,
                                    o.result != nullptr, req, res);
    count_call(req.protocol, req.has_range(), e, res);
    if (o.result) std::memcpy(o.result, &res, sizeof res);
    return e;
}

int check_interface(const request& r) noexcept {
    netns_ref ns;
    if (int e = netns_for_socket(r.fd, ns)) return e;
    nl_lease nl;
    if (int e = ns->lease(NETLINK_ROUTE, r.fd, nl)) return e;
    return check_interface(nl, r.ifindex, r.src);
}

}  // namespace cx::detail

extern "C" const char* connectx_technique_name(uint32_t technique) {
    switch (technique) {
        case CONNECTX_TECH_NONE: return "none";
        case CONNECTX_TECH_CONNECT: return "connect";
        case CONNECTX_TECH_BIND_NO_PORT: return "bind-no-port";
        case CONNECTX_TECH_REUSEADDR: return "reuseaddr";
        case CONNECTX_TECH_LOCAL_PORT_RANGE: return "local-port-range";
        case CONNECTX_TECH_EXPLICIT_PORTS: return "explicit-ports";
        case CONNECTX_TECH_UDP_LOCK: return "udp-lock";
        case CONNECTX_TECH_UDP_ALONE: return "udp-alone";
        default: return "unknown";
    }
}
