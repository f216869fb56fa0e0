// validate.cpp - every check connectx() makes before its first side effect. A call that fails
// here leaves the socket exactly as it was. One check may wait for the bind (see
// request::socket_checked).
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>

#include "request.hpp"
#include "sys.hpp"

#ifndef TCP_IS_MPTCP
#define TCP_IS_MPTCP 43  // Linux 6.5
#endif

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

// What earlier calls taught, so that a call asks the fewest questions: the protocol of the last
// socket that passed (most programs connect one kind; its question goes first), and the option
// that proves a TCP socket with one getsockopt on this kernel (0: none does):
//   TCP_IS_MPTCP (6.5+)  0 on TCP, 1 on MPTCP, refused by every other socket;
//   TCP_SYNCNT           where TCP_IS_MPTCP is unknown: TCP answers it, MPTCP does not (6.18
//                        does not either), nor do UDP, raw or unix sockets.
// A kernel that refuses the option on a TCP socket moves the choice down the list.
std::atomic<int> g_last_protocol{IPPROTO_TCP};
std::atomic<int> g_tcp_probe{TCP_IS_MPTCP};

enum class tcp_probe { not_asked, proven, refused };

// IPPROTO_TCP or IPPROTO_UDP, or the errno for any other socket: g_tcp_probe's option first
// when the last call was TCP, else (or when it is refused) SO_PROTOCOL, which a raw socket of
// IPPROTO_TCP or IPPROTO_UDP passes too; check_socket tells those apart. `option`: the one asked.
int socket_protocol(int fd, int& protocol, tcp_probe& probe, int& option) {
    int last = g_last_protocol.load(std::memory_order_relaxed);
    option = g_tcp_probe.load(std::memory_order_relaxed);
    probe = tcp_probe::not_asked;
    if (last == IPPROTO_TCP && option != 0) {
        int v;
        int e = sys::getsockopt_int(fd, IPPROTO_TCP, option, v);
        if (e == EBADF || e == ENOTSOCK) return e;
        bool tcp = e == 0 && (option != TCP_IS_MPTCP || v == 0);
        probe = tcp ? tcp_probe::proven : tcp_probe::refused;
    }
    if (probe == tcp_probe::proven) {
        protocol = IPPROTO_TCP;
    } else if (int e = sys::getsockopt_int(fd, SOL_SOCKET, SO_PROTOCOL, protocol)) {
        return e;
    }
    if (protocol == IPPROTO_TCP || protocol == IPPROTO_UDP) {
        if (protocol != last) g_last_protocol.store(protocol, std::memory_order_relaxed);
        return 0;
    }
    sockaddr_storage self;
    socklen_t len = sizeof self;
    if (int e = sys::getsockname(fd, reinterpret_cast<sockaddr*>(&self), len)) return e;
    return self.ss_family == AF_INET || self.ss_family == AF_INET6 ? EPROTOTYPE : EAFNOSUPPORT;
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

int validate(int fd, const sockaddr* src, socklen_t src_len, const sockaddr* dst, socklen_t dst_len,
             const connectx_opts* opts, request& out) noexcept {
    out = request{};
    out.fd = fd;
    tcp_probe probe;
    int probe_option;
    if (int e = socket_protocol(fd, out.protocol, probe, probe_option)) return e;

    if (opts) {
        if (opts->flags & ~CONNECTX_F_ALL) return EINVAL;
        if (opts->port_lo > opts->port_hi || (opts->port_lo == 0 && opts->port_hi != 0))
            return EINVAL;
        if (opts->ifindex < 0) return EINVAL;
        out.port_lo = opts->port_lo;
        out.port_hi = opts->port_hi;
        out.ifindex = opts->ifindex;
        out.flags = opts->flags;
    }

    // The addresses set the family the socket must have; check_socket holds the socket to it.
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

    // TCP with a source IP and nothing else is the common call, and a system call less counts
    // there (README, "Performance"). Its bind has the kernel check the socket: a wrong family, a
    // bound port, a listener or a connection fail it, and tcp_connect then asks check_socket
    // for the errno. Every other call asks now, before any side effect.
    out.socket_checked = !(probe == tcp_probe::proven && out.src_ip_given && out.src.port() == 0 &&
                           !out.has_range() && out.ifindex == 0);
    if (out.socket_checked) {
        if (int e = check_socket(out)) return e;
        // A TCP socket, not raw, refused the option: this kernel does not have it.
        if (probe == tcp_probe::refused && out.protocol == IPPROTO_TCP)
            g_tcp_probe.compare_exchange_strong(probe_option,
                                                probe_option == TCP_IS_MPTCP ? TCP_SYNCNT : 0,
                                                std::memory_order_relaxed);
    }

    if (out.family == AF_INET6) {
        // IPv4 traffic needs an IPv4 source and IPv6 traffic an IPv6 one. "::" fits both;
        // "::ffff:0.0.0.0" is the IPv4 wildcard and fits IPv4 destinations only.
        bool mapped = out.dst.is_v4_mapped();
        if (out.src.is_v4_mapped() != mapped && (out.src_ip_given || out.src.is_v4_mapped()))
            return EAFNOSUPPORT;
        if (mapped) {
            int v6only;
            // Refused (ENOPROTOOPT, EOPNOTSUPP) only when the socket is not IPv6 after all.
            if (sys::getsockopt_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, v6only) != 0 || v6only)
                return EAFNOSUPPORT;
        }
        auto* d6 = reinterpret_cast<sockaddr_in6*>(out.dst.sa());
        auto* s6 = reinterpret_cast<sockaddr_in6*>(out.src.sa());
        // A scope names the link of a link-local or link-scoped multicast address, and only
        // theirs: on any other address connect(2) ignores it.
        if (out.dst.needs_scope() && d6->sin6_scope_id == 0) return EINVAL;
        if (out.src.needs_scope()) {
            if (s6->sin6_scope_id == 0) s6->sin6_scope_id = d6->sin6_scope_id;
            if (s6->sin6_scope_id == 0) return EINVAL;
            if (d6->sin6_scope_id && s6->sin6_scope_id != d6->sin6_scope_id) return EINVAL;
        }
        if (!out.dst.needs_scope()) d6->sin6_scope_id = 0;
        if (!out.src.needs_scope()) s6->sin6_scope_id = 0;
        uint32_t scope = out.dst.needs_scope() ? d6->sin6_scope_id : 0;
        if (scope && out.ifindex && uint32_t(out.ifindex) != scope) return EINVAL;
    }
    return 0;
}

}  // namespace cx::detail
