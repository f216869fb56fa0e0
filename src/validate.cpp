// validate.cpp - every check connectx() makes before its first side effect. A call that fails
// here leaves the socket exactly as it was. The TCP path may take check_socket over (see
// tcp_defers_socket_check).
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>

#include "request.hpp"
#include "socket_kind.hpp"
#include "sys.hpp"

namespace cx::detail {
namespace {

// The first published layout of struct connectx_opts ends with `result`. Later fields append.
constexpr uint32_t kOptsSizeVer0 = offsetof(connectx_opts, result) + sizeof(connectx_result*);

// A caller's sockaddr into `out`, checked for length.
int take_address(const sockaddr* sa, socklen_t len, address& out) {
    if (len > socklen_t(sizeof(sockaddr_storage))) return EINVAL;
    auto a = address::from_sockaddr(sa, len);
    if (!a) return a.error().value();
    out = *a;
    return 0;
}

}  // namespace

int copy_opts(const connectx_opts* in, connectx_opts& out) noexcept {
    out = connectx_opts{};
    uint32_t size;
    std::memcpy(&size, in, sizeof size);
    if (size < kOptsSizeVer0) return EINVAL;
    const auto* bytes = reinterpret_cast<const unsigned char*>(in);
    for (uint32_t i = sizeof out; i < size; ++i)
        if (bytes[i] != 0) return E2BIG;
    std::memcpy(&out, in, std::min<size_t>(size, sizeof out));
    out.size = sizeof out;
    return 0;
}

// What the socket itself says: it must be an IPv4 or IPv6 socket of `r.family`, neither bound
// nor connected (connectx does the binding). A TCP socket bound to an address alone
// (IP_BIND_ADDRESS_NO_PORT) passes: the kernel lets a later bind replace that address, and the
// bind-no-port path, which asks here only after its bind failed, could not refuse it anyway.
int check_socket(const request& r) noexcept {
    sockaddr_storage self;
    socklen_t self_len = sizeof self;
    if (int e = sys::getsockname(r.fd, reinterpret_cast<sockaddr*>(&self), self_len)) return e;
    if (self.ss_family != r.family) return EAFNOSUPPORT;
    auto bound = address::from_sockaddr(reinterpret_cast<sockaddr*>(&self), self_len);
    if (bound && (bound->port() != 0 || (!bound->is_wildcard() && r.protocol != IPPROTO_TCP))) {
        // A raw socket of IPPROTO_TCP or IPPROTO_UDP gets here: its "port" is its protocol.
        int type;
        if (sys::getsockopt_int(r.fd, SOL_SOCKET, SO_TYPE, type) == 0 && type == SOCK_RAW)
            return EPROTOTYPE;
        sockaddr_storage peer;
        socklen_t peer_len = sizeof peer;
        if (sys::getpeername(r.fd, reinterpret_cast<sockaddr*>(&peer), peer_len) == 0)
            return EISCONN;
        return EINVAL;
    }
    return 0;
}

namespace {

// The options' knobs into `out`, checked.
int take_opts(const connectx_opts& o, request& out) {
    if (o.flags & ~CONNECTX_F_ALL) return EINVAL;
    if (o.port_lo > o.port_hi || (o.port_lo == 0 && o.port_hi != 0)) return EINVAL;
    if (o.ifindex < 0) return EINVAL;
    out.port_lo = o.port_lo;
    out.port_hi = o.port_hi;
    out.ifindex = o.ifindex;
    out.flags = o.flags;
    return 0;
}

// dst and src into `out`. The addresses set the family the socket must have; check_socket holds
// the socket to it.
int take_addresses(const sockaddr* src, socklen_t src_len, const sockaddr* dst, socklen_t dst_len,
                   request& out) {
    if (!dst) return EINVAL;
    if (int e = take_address(dst, dst_len, out.dst)) return e;
    out.family = out.dst.family();
    if (out.dst.port() == 0 || out.dst.is_wildcard()) return EINVAL;
    if (src && src_len != 0) {
        if (int e = take_address(src, src_len, out.src)) return e;
        if (out.src.family() != out.family) return EAFNOSUPPORT;
        // No datagram leaves from a group or the broadcast address: connect(2) refuses a socket
        // bound to one (EINVAL), in either form.
        if (out.src.is_multicast() || out.src.is_broadcast()) return EINVAL;
        out.src_ip_given = !out.src.is_wildcard();
    } else {
        out.src = address{};
        out.src.sa()->sa_family = sa_family_t(out.family);
    }
    if (out.src.port() != 0) out.port_lo = out.port_hi = 0;  // an explicit port wins
    return 0;
}

// A scope names the link of a link-local or link-scoped multicast address, and only theirs: on
// any other address connect(2) ignores it. The source takes the destination's when it has none.
int settle_scopes(request& out) {
    auto* d6 = reinterpret_cast<sockaddr_in6*>(out.dst.sa());
    auto* s6 = reinterpret_cast<sockaddr_in6*>(out.src.sa());
    if (out.dst.needs_scope() && d6->sin6_scope_id == 0) return EINVAL;
    if (!out.dst.needs_scope()) d6->sin6_scope_id = 0;  // before the source may take it
    if (out.src.needs_scope()) {
        if (s6->sin6_scope_id == 0) s6->sin6_scope_id = d6->sin6_scope_id;
        if (s6->sin6_scope_id == 0) return EINVAL;
        if (d6->sin6_scope_id && s6->sin6_scope_id != d6->sin6_scope_id) return EINVAL;
    }
    if (!out.src.needs_scope()) s6->sin6_scope_id = 0;
    uint32_t scope = out.dst.needs_scope() ? d6->sin6_scope_id : 0;
    if (scope && out.ifindex && uint32_t(out.ifindex) != scope) return EINVAL;
    return 0;
}

// The IPv6 rules: the source's form matches the destination's, a mapped destination needs a
// dual-stack socket, and the scopes agree.
// The source's form against the destination's, and the scopes: no system call.
int check_ipv6_source(request& out) {
    // IPv4 traffic needs an IPv4 source and IPv6 traffic an IPv6 one. "::" fits both;
    // "::ffff:0.0.0.0" is the IPv4 wildcard and fits IPv4 destinations only.
    if (out.src.is_v4_mapped() != out.dst.is_v4_mapped() &&
        (out.src_ip_given || out.src.is_v4_mapped()))
        return EAFNOSUPPORT;
    return settle_scopes(out);
}

int check_ipv6(int fd, request& out) {
    if (int e = check_ipv6_source(out)) return e;
    if (out.dst.is_v4_mapped()) {
        int v6only;
        // Refused (ENOPROTOOPT, EOPNOTSUPP) only when the socket is not IPv6 after all.
        if (sys::getsockopt_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, v6only) != 0 || v6only)
            return EAFNOSUPPORT;
    }
    return 0;
}

}  // namespace

int set_source(request& r, const address& src) noexcept {
    if (src.family() != r.family) return EAFNOSUPPORT;
    if (src.is_multicast() || src.is_broadcast()) return EINVAL;
    r.src = src;
    r.src_ip_given = !src.is_wildcard();
    // The socket's IPV6_V6ONLY was asked when the request was validated: same socket, same dst.
    if (r.family == AF_INET6) return check_ipv6_source(r);
    return 0;
}

namespace {

// Whether the caller leaves the source IP open (null, or a wildcard in either form): only a hint
// of which questions to ask together (socket_kind.hpp); take_addresses checks src.
bool no_source_ip(const sockaddr* src, socklen_t len) {
    if (!src) return true;
    auto a = address::from_sockaddr(src, len);
    return a && a->is_wildcard();
}

}  // namespace

int validate(int fd, const sockaddr* src, socklen_t src_len, const sockaddr* dst, socklen_t dst_len,
             const connectx_opts* opts, request& out) noexcept {
    out = request{};
    out.fd = fd;
    if (int e = socket_kind_of(fd, no_source_ip(src, src_len), out.kind)) return e;
    out.protocol = out.kind.protocol;
    if (opts)
        if (int e = take_opts(*opts, out)) return e;
    if (int e = take_addresses(src, src_len, dst, dst_len, out)) return e;
    // Every call asks now, before any side effect, unless the TCP path has its bind check it.
    if (!tcp_defers_socket_check(out)) {
        if (int e = check_socket(out)) return e;
        socket_kind_confirmed(out.kind);
    }
    if (out.family == AF_INET6) return check_ipv6(fd, out);
    return 0;
}

}  // namespace cx::detail
