// capi.cpp - the C ABI and the C++ entry point: thin shims over cx::detail::connect_socket. Neither lets
// an exception out (nothing below throws; noexcept makes that a promise).
#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <new>
#include <vector>

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
    std::vector<sockaddr_storage> pool;
    sockaddr_storage prefix{};
    try {
        pool.resize(o.pool.size());
    } catch (const std::bad_alloc&) {
        return errno_code(ENOMEM);
    }
    for (size_t i = 0; i < o.pool.size(); ++i)
        std::memcpy(&pool[i], o.pool[i].sa(), o.pool[i].size());
    if (!pool.empty()) copts.pool = pool.data();
    copts.pool_count = uint32_t(std::min<size_t>(pool.size(), UINT32_MAX));
    if (o.pool_prefix) {
        std::memcpy(&prefix, o.pool_prefix->network.sa(), o.pool_prefix->network.size());
        copts.pool_prefix = &prefix;
        // A length of 0 would read as "no prefix": the whole address space is no pool either.
        copts.pool_prefix_len = o.pool_prefix->length ? o.pool_prefix->length : 255;
    }
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
