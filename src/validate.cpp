// validate.cpp - every check connectx() makes before its first side effect. A call that fails
// here leaves the socket exactly as it was.
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <cerrno>

#include "request.hpp"
#include "sys.hpp"

namespace cx::detail {
namespace {

// The sizes of struct connectx_opts ever published. A new field appends and adds a size here.
constexpr uint32_t kOptsSizes[] = {sizeof(connectx_opts)};

bool known_opts_size(uint32_t size) {
    for (uint32_t s : kOptsSizes)
        if (s == size) return true;
    return false;
}

// A caller's sockaddr into `out`, checked for length and family against the socket's family.
int take_address(const sockaddr* sa, socklen_t len, int sock_family, address& out) {
    if (len > socklen_t(sizeof(sockaddr_storage))) return EINVAL;
    auto a = address::from_sockaddr(sa, len);
    if (!a) return a.error().value();
    if (a->family() != sock_family) return EAFNOSUPPORT;
    out = *a;
    return 0;
}

// Is `ip` configured on interface `ifindex`? Exact match, or inside the prefix of an address of
// a loopback interface (127.0.0.0/8 answers on lo without being listed address by address).
int check_on_interface(const address& ip, int ifindex) {
    char name[IF_NAMESIZE];
    if (!if_indextoname(unsigned(ifindex), name)) return ENODEV;
    if (ip.is_wildcard()) return 0;
    ifaddrs* list;
    if (getifaddrs(&list) < 0) return errno;
    int rc = EADDRNOTAVAIL;
    for (ifaddrs* i = list; i && rc; i = i->ifa_next) {
        if (!i->ifa_addr || if_nametoindex(i->ifa_name) != unsigned(ifindex)) continue;
        if (ip.is_v4_mapped() ? i->ifa_addr->sa_family != AF_INET
                              : i->ifa_addr->sa_family != ip.family())
            continue;
        const uint8_t* want;
        const uint8_t* have;
        const uint8_t* mask = nullptr;
        size_t n;
        if (i->ifa_addr->sa_family == AF_INET) {
            want = reinterpret_cast<const uint8_t*>(ip.sa()->sa_family == AF_INET
                ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(ip.sa())->sin_addr)
                : static_cast<const void*>(reinterpret_cast<const sockaddr_in6*>(ip.sa())->sin6_addr.s6_addr + 12));
            have = reinterpret_cast<const uint8_t*>(&reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr);
            if (i->ifa_netmask)
                mask = reinterpret_cast<const uint8_t*>(&reinterpret_cast<sockaddr_in*>(i->ifa_netmask)->sin_addr);
            n = 4;
        } else {
            want = reinterpret_cast<const sockaddr_in6*>(ip.sa())->sin6_addr.s6_addr;
            have = reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr.s6_addr;
            if (i->ifa_netmask)
                mask = reinterpret_cast<sockaddr_in6*>(i->ifa_netmask)->sin6_addr.s6_addr;
            n = 16;
        }
        bool use_prefix = (i->ifa_flags & IFF_LOOPBACK) && mask;
        bool match = true;
        for (size_t k = 0; k < n && match; ++k)
            match = use_prefix ? ((want[k] ^ have[k]) & mask[k]) == 0 : want[k] == have[k];
        if (match) rc = 0;
    }
    freeifaddrs(list);
    return rc;
}

}  // namespace

int validate(int fd, const sockaddr* src, socklen_t src_len, const sockaddr* dst,
             socklen_t dst_len, const connectx_opts* opts, request& out) noexcept {
    // The socket: getsockname gives EBADF/ENOTSOCK, the family, and whether it is bound.
    sockaddr_storage self;
    socklen_t self_len = sizeof self;
    if (int e = sys::getsockname(fd, reinterpret_cast<sockaddr*>(&self), self_len)) return e;
    int family = self.ss_family;
    if (family != AF_INET && family != AF_INET6) return EAFNOSUPPORT;
    int protocol;
    if (int e = sys::getsockopt_int(fd, SOL_SOCKET, SO_PROTOCOL, protocol)) return e;
    if (protocol != IPPROTO_TCP && protocol != IPPROTO_UDP) return EPROTOTYPE;

    out = request{};
    out.fd = fd;
    out.family = family;
    out.protocol = protocol;

    if (opts) {
        if (!known_opts_size(opts->size)) return EINVAL;
        if (opts->flags & ~CONNECTX_F_ALL) return EINVAL;
        if (opts->port_lo > opts->port_hi || (opts->port_lo == 0 && opts->port_hi != 0))
            return EINVAL;
        if (opts->ifindex < 0) return EINVAL;
        out.port_lo = opts->port_lo;
        out.port_hi = opts->port_hi;
        out.ifindex = opts->ifindex;
        out.flags = opts->flags;
    }

    if (!dst) return EINVAL;
    if (int e = take_address(dst, dst_len, family, out.dst)) return e;
    if (out.dst.port() == 0 || out.dst.is_wildcard()) return EINVAL;

    if (src && src_len != 0) {
        if (int e = take_address(src, src_len, family, out.src)) return e;
        out.src_ip_given = !out.src.is_wildcard();
    } else {
        out.src = address{};
        out.src.sa()->sa_family = sa_family_t(family);
    }

    if (family == AF_INET6) {
        bool mapped = out.dst.is_v4_mapped();
        if (out.src_ip_given && out.src.is_v4_mapped() != mapped) return EAFNOSUPPORT;
        if (mapped) {
            int v6only;
            if (int e = sys::getsockopt_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, v6only)) return e;
            if (v6only) return EAFNOSUPPORT;
        }
        auto* d6 = reinterpret_cast<sockaddr_in6*>(out.dst.sa());
        auto* s6 = reinterpret_cast<sockaddr_in6*>(out.src.sa());
        if (out.dst.is_link_local() && d6->sin6_scope_id == 0) return EINVAL;
        if (out.src.is_link_local()) {
            if (s6->sin6_scope_id == 0) s6->sin6_scope_id = d6->sin6_scope_id;
            if (s6->sin6_scope_id == 0) return EINVAL;
            if (d6->sin6_scope_id && s6->sin6_scope_id != d6->sin6_scope_id) return EINVAL;
        }
        if (!out.dst.is_link_local()) d6->sin6_scope_id = 0;
        if (!out.src.is_link_local()) s6->sin6_scope_id = 0;
        uint32_t scope = out.dst.is_link_local() ? d6->sin6_scope_id : 0;
        if (scope && out.ifindex && uint32_t(out.ifindex) != scope) return EINVAL;
    }

    // The socket must be fresh: connectx does the binding.
    auto bound = address::from_sockaddr(reinterpret_cast<sockaddr*>(&self), self_len);
    if (bound && (bound->port() != 0 || !bound->is_wildcard())) {
        sockaddr_storage peer;
        socklen_t peer_len = sizeof peer;
        if (sys::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), peer_len) == 0) return EISCONN;
        return EINVAL;
    }

    if (out.ifindex) {
        if (int e = check_on_interface(out.src, out.ifindex)) return e;
    }
    if (out.src.port() != 0) out.port_lo = out.port_hi = 0;  // an explicit port wins
    return 0;
}

}  // namespace cx::detail
