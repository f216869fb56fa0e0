// source_query.cpp - connectx_source(3) and cx::source_for(): the source address the routing
// table gives a socket toward a destination, for callers (the CLI's -v, proxies that log the
// 4-tuple before connecting) that must not connect a throwaway socket to learn it.
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

#include "netns_cache.hpp"
#include "request.hpp"
#include "route_lookup.hpp"
#include "sys.hpp"

namespace cx::detail {
namespace {

int source_of(int fd, const sockaddr* dst_sa, socklen_t dst_len, address& src) {
    // The same checks as connectx() for the socket and dst, without a source.
    request r;
    if (int e = validate(fd, nullptr, 0, dst_sa, dst_len, nullptr, r)) return e;
    netns_ref ns;
    if (int e = netns_for_socket(fd, ns)) return e;
    int device = 0;
    if (int e = sys::getsockopt_int(fd, SOL_SOCKET, SO_BINDTOIFINDEX, device)) return e;
    uint32_t oif = device ? uint32_t(device) : r.dst.needs_scope() ? r.dst.scope_id() : 0;
    src = address{};
    src.sa()->sa_family = sa_family_t(r.family);
    return route_source(*ns, fd, r.protocol, r.dst, oif, src);
}

}  // namespace
}  // namespace cx::detail

extern "C" int connectx_source(int fd, const struct sockaddr* dst, socklen_t dst_len,
                               struct sockaddr_storage* src) {
    if (!src) {
        errno = EINVAL;
        return -1;
    }
    cx::address a;
    if (int e = cx::detail::source_of(fd, dst, dst_len, a)) {
        errno = e;
        return -1;
    }
    std::memset(src, 0, sizeof *src);
    std::memcpy(src, a.sa(), a.size());
    return 0;
}

namespace cx {

result<address> source_for(int fd, const address& dst) noexcept {
    address a;
    if (int e = detail::source_of(fd, dst.sa(), dst.size(), a)) return errno_code(e);
    return a;
}

}  // namespace cx
