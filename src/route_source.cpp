// route_source.cpp - route questions of a socket, asked in its namespace through that
// namespace's route cache and netlink pool.
#include "route_source.hpp"

#include <linux/netlink.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "request.hpp"
#include "sys.hpp"

namespace cx::detail {

namespace {

// The routing table rarely changes between calls: ask the kernel only when it may have.
int route_cached_lookup(netns_state& ns, int fd, const route_query& q, route_answer& a) {
    uint64_t gen;
    if (ns.routes().cached(q, a, gen)) return 0;
    nl_lease route;
    if (int e = ns.lease(NETLINK_ROUTE, fd, route)) return e;
    if (int e = route_lookup(route.fd(), route.portid(), route.next_seq(), q, a)) {
        if (e == ETIMEDOUT || e == EPROTO) route.discard();
        return e;
    }
    ns.routes().store(q, a, gen);
    return 0;
}

}  // namespace

int route_ask(netns_state& ns, int fd, int protocol, const address& src, const address& dst,
              uint32_t oif, route_answer& a) noexcept {
    // IPv4-mapped destinations are IPv4 traffic: ask the IPv4 table.
    const bool v4 = dst.family() == AF_INET || dst.is_v4_mapped();
    route_query q;
    q.family = v4 ? AF_INET : AF_INET6;
    std::memcpy(q.dst, ip_bytes(dst, v4), v4 ? 4 : 16);
    if (!src.is_wildcard() && src.family() == dst.family())
        std::memcpy(q.src, ip_bytes(src, v4), v4 ? 4 : 16);
    q.oif = oif;
    q.protocol = uint8_t(protocol);
    q.sport = src.family() == dst.family() ? src.port() : 0;
    q.dport = dst.port();
    int mark = 0;
    if (int e = sys::getsockopt_int(fd, SOL_SOCKET, SO_MARK, mark)) return e;
    q.mark = uint32_t(mark);
    struct stat st;
    if (::fstat(fd, &st) < 0) return errno;
    q.uid = st.st_uid;  // the socket inode's owner is the socket's sk_uid
    if (v4) {
        int tos = 0;
        if (int e = sys::getsockopt_int(fd, IPPROTO_IP, IP_TOS, tos)) return e;
        q.tos = uint8_t(tos);
    }
    return route_cached_lookup(ns, fd, q, a);
}

int route_device(netns_state& ns, int fd, const address& src, const address& dst,
                 uint32_t& dev) noexcept {
    const bool v4 = dst.family() == AF_INET || dst.is_v4_mapped();
    route_query q;
    q.family = v4 ? AF_INET : AF_INET6;
    std::memcpy(q.dst, ip_bytes(dst, v4), v4 ? 4 : 16);
    if (!src.is_wildcard()) std::memcpy(q.src, ip_bytes(src, v4), v4 ? 4 : 16);
    route_answer a;
    if (int e = route_cached_lookup(ns, fd, q, a)) return e;
    dev = a.oif;
    return 0;
}

int route_source(netns_state& ns, int fd, int protocol, const address& dst, uint32_t oif,
                 address& src, uint32_t* dev) noexcept {
    route_answer a;
    if (int e = route_ask(ns, fd, protocol, src, dst, oif, a)) return e;
    if (dev) *dev = a.oif;
    const bool v4 = dst.family() == AF_INET || dst.is_v4_mapped();
    if (src.family() == AF_INET) {
        std::memcpy(&reinterpret_cast<sockaddr_in*>(src.sa())->sin_addr, a.src, 4);
        return 0;
    }
    auto* s6 = reinterpret_cast<sockaddr_in6*>(src.sa());
    if (v4) {
        std::memset(&s6->sin6_addr, 0, 16);
        s6->sin6_addr.s6_addr[10] = s6->sin6_addr.s6_addr[11] = 0xff;
        std::memcpy(s6->sin6_addr.s6_addr + 12, a.src, 4);
    } else {
        std::memcpy(&s6->sin6_addr, a.src, 16);
    }
    s6->sin6_scope_id = 0;
    if (src.needs_scope()) s6->sin6_scope_id = oif ? oif : a.oif;
    return 0;
}

}  // namespace cx::detail
