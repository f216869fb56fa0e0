// capi.cpp - the C ABI and the C++ entry point: thin shims over cx::detail::connect_socket. Neither lets
// an exception out (nothing below throws; noexcept makes that a promise).
#include <cerrno>

#include "request.hpp"

extern "C" int connectx(int fd, const struct sockaddr* src, socklen_t src_len,
                        const struct sockaddr* dst, socklen_t dst_len,
                        const struct connectx_opts* opts) {
    int e = cx::detail::connect_socket(fd, src, src_len, dst, dst_len, opts);
    if (e == 0) return 0;
    errno = e;
    return -1;
}

namespace cx {

result<connection> connect(int fd, const std::optional<address>& src, const address& dst,
                           const options& o) noexcept {
    connectx_opts copts{};
    copts.size = sizeof copts;
    copts.flags = o.flags;
    if (o.ports) {
        copts.port_lo = o.ports->lo;
        copts.port_hi = o.ports->hi;
    }
    copts.ifindex = o.ifindex;
    connectx_result res;
    copts.result = &res;
    int e = cx::detail::connect_socket(fd, src ? src->sa() : nullptr, src ? src->size() : 0,
                                       dst.sa(), dst.size(), &copts);
    if (e != 0) return errno_code(e);
    connection c;
    auto local = address::from_sockaddr(reinterpret_cast<const sockaddr*>(&res.local),
                                        sizeof res.local);
    if (local) c.local = *local;
    c.remote = dst;
    c.technique = static_cast<technique>(res.technique);
    c.lookups = res.lookups;
    c.attempts = res.attempts;
    return c;
}

}  // namespace cx
