// connect.cpp - the one body behind connectx(3) and connectx::connect(): validate, hand the call
// to the TCP or UDP path, report what was chosen.
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

#include "iface_check.hpp"
#include "netns_cache.hpp"
#include "request.hpp"
#include "sys.hpp"

namespace cx::detail {

int connect_socket(int fd, const sockaddr* src, socklen_t src_len, const sockaddr* dst,
                   socklen_t dst_len, const connectx_opts* opts) noexcept {
    // Every input is read before any output is written: the result may overlay dst or src.
    connectx_opts o{};
    if (opts)
        if (int e = copy_opts(opts, o)) return e;
    request req;
    int e = validate(fd, src, src_len, dst, dst_len, opts ? &o : nullptr, req);
    connectx_result scratch;
    connectx_result& res = o.result ? *o.result : scratch;
    std::memset(&res, 0, sizeof res);
    // opts.ifindex is checked where the socket lives, which needs that namespace's state.
    if (e == 0 && req.ifindex) e = check_interface(req);
    if (e) return e;
    e = req.protocol == IPPROTO_TCP ? tcp_connect(req, res) : udp_connect(req, res);
    if (!o.result || (e != 0 && e != EINPROGRESS)) return e;
    // The local end as the kernel made it (for EINPROGRESS the port is already chosen), unless
    // the path already knows it (the UDP path has seen its bound address in the locked lookup).
    socklen_t len = sizeof res.local;
    if (res.local.ss_family == AF_UNSPEC &&
        sys::getsockname(fd, reinterpret_cast<sockaddr*>(&res.local), len) != 0)
        std::memset(&res.local, 0, sizeof res.local);
    std::memcpy(&res.remote, req.dst.sa(), req.dst.size());
    return e;
}

int check_interface(const request& r) noexcept {
    netns_ref ns;
    if (int e = netns_for_socket(r.fd, ns)) return e;
    return check_interface(*ns, r.fd, r.ifindex, r.src);
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
