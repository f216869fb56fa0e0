// connect.cpp - the one body behind connectx(3) and connectx::connect(): validate, hand the call
// to the TCP or UDP path, report what was chosen.
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

#include "request.hpp"
#include "sys.hpp"

namespace cx::detail {

int connect_socket(int fd, const sockaddr* src, socklen_t src_len, const sockaddr* dst,
                   socklen_t dst_len, const connectx_opts* opts, connectx_result* out) noexcept {
    connectx_result scratch;
    connectx_result& res = out ? *out : scratch;
    std::memset(&res, 0, sizeof res);
    request req;
    if (int e = validate(fd, src, src_len, dst, dst_len, opts, req)) return e;
    int e = req.protocol == IPPROTO_TCP ? tcp_connect(req, res) : udp_connect(req, res);
    if (!out || (e != 0 && e != EINPROGRESS)) return e;
    // The local end as the kernel made it (for EINPROGRESS the port is already chosen), unless
    // the path already knows it (the UDP path has seen its bound address in the locked lookup).
    socklen_t len = sizeof res.local;
    if (res.local.ss_family == AF_UNSPEC &&
        sys::getsockname(fd, reinterpret_cast<sockaddr*>(&res.local), len) != 0)
        std::memset(&res.local, 0, sizeof res.local);
    std::memcpy(&res.remote, req.dst.sa(), req.dst.size());
    return e;
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
