// request.hpp - one connectx() call after validation: every field checked and normalised, so
// the TCP and UDP paths never look at raw caller input.
#pragma once

#include <connectx/connectx.hpp>

#include <cstdint>

#include "socket_kind.hpp"

namespace cx::detail {

// The raw network-order bytes of an address's IP: 4 for AF_INET, 16 for AF_INET6, or with
// `as_v4` the last 4 of an IPv4-mapped one (IPv4 traffic is looked up in IPv4 tables).
inline const uint8_t* ip_bytes(const address& a, bool as_v4) noexcept {
    if (a.family() == AF_INET)
        return reinterpret_cast<const uint8_t*>(
            &reinterpret_cast<const sockaddr_in*>(a.sa())->sin_addr);
    const uint8_t* b = reinterpret_cast<const sockaddr_in6*>(a.sa())->sin6_addr.s6_addr;
    return as_v4 ? b + 12 : b;
}


struct request {
    int fd = -1;
    int family = 0;    // the addresses': AF_INET or AF_INET6, the socket's once checked
    int protocol = 0;  // IPPROTO_TCP or IPPROTO_UDP
    // Source: family is `family`; wildcard IP and/or port 0 when the caller left them open.
    // A link-local source carries the scope of the destination when the caller gave none.
    address src;
    address dst;      // its family is `family` (IPv4-mapped on a dual-stack socket)
    bool src_ip_given = false;  // src IP is not the wildcard
    uint16_t port_lo = 0;       // per-call source port range, 0/0 = none (only when src port 0)
    uint16_t port_hi = 0;
    int ifindex = 0;            // SO_BINDTODEVICE target, 0 = none
    uint32_t flags = 0;         // CONNECTX_F_*
    socket_kind kind;  // what validate learned of the socket (socket_kind.hpp)

    uint16_t src_port() const noexcept { return src.port(); }
    bool has_range() const noexcept { return port_hi != 0; }
    bool dst_v4_mapped() const noexcept { return dst.is_v4_mapped(); }
};

// Checks the caller's arguments and the socket's state, without side effects. Returns 0 and fills
// `out`, or an errno as documented in connectx.h.
int validate(int fd, const sockaddr* src, socklen_t src_len, const sockaddr* dst,
             socklen_t dst_len, const connectx_opts* opts, request& out) noexcept;

// A pool's source into a validated request `r`, with connectx()'s checks of a source address:
// EAFNOSUPPORT (family, IPv4-mapped form), EINVAL (multicast, broadcast, scope). No system call
// (the socket's own checks were made by validate).
int set_source(request& r, const address& src) noexcept;

// The socket's own state: EAFNOSUPPORT if its family is not `r.family`, EPROTOTYPE if it is raw,
// EISCONN if connected, EINVAL if bound; 0 if it is fresh.
int check_socket(const request& r) noexcept;

// opts.ifindex against the socket's namespace: ENODEV, EADDRNOTAVAIL (src is not on it), or the
// errno of reaching that namespace. Before any side effect.
int check_interface(const request& r) noexcept;

// The paths. Each returns 0 or an errno, fills `res` (technique, lookups, attempts; a path may
// fill `local` itself, else the dispatcher asks getsockname; `remote` is the dispatcher's) and on
// failure leaves no lock behind.
int tcp_connect(const request& req, connectx_result& res) noexcept;
// True when the TCP path checks the socket itself (check_socket after a failed bind) instead of
// validate: see tcp_connect.cpp.
[[nodiscard]] bool tcp_defers_socket_check(const request& r) noexcept;
int udp_connect(const request& req, connectx_result& res) noexcept;

// validate + dispatch + report: the body of both the C and the C++ entry points. The result
// goes where opts->result points, if anywhere; the local address is looked up only then.
int connect_socket(int fd, const sockaddr* src, socklen_t src_len, const sockaddr* dst,
                   socklen_t dst_len, const connectx_opts* opts) noexcept;

// The TCP or UDP path for a validated request (interface checked), and the report of its
// result: `res` is zeroed first; on success (and EINPROGRESS) `remote` is filled, and `local`
// when `want_local` (a getsockname the caller may not need).
int connect_request(const request& req, bool want_local, connectx_result& res) noexcept;

// A call whose opts carry a source pool (pool_connect.cpp): validates the pool, then tries its
// sources in turn. `req` is left as the last attempt's, for the counters.
int connect_pool(int fd, const sockaddr* src, socklen_t src_len, const sockaddr* dst,
                 socklen_t dst_len, const connectx_opts& opts, request& req,
                 connectx_result& res) noexcept;

// The caller's opts into `out`, by the kernel's rule for extensible structs (openat2, clone3):
// `size` below the first published layout is EINVAL and nothing past `size` is read; a larger
// size than this build knows is accepted when the bytes it does not know are all zero, else
// E2BIG. Fields this build knows but the caller's size does not cover read as zero.
int copy_opts(const connectx_opts* in, connectx_opts& out) noexcept;

}  // namespace cx::detail
