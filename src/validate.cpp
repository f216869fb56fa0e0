// validate.cpp - every check connectx() makes before its first side effect. A call that fails
// here leaves the socket exactly as it was. One check may wait for the bind (see
// request::socket_checked).
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <atomic>
#include <cerrno>

#include "request.hpp"
#include "sys.hpp"

#ifndef TCP_IS_MPTCP
#define TCP_IS_MPTCP 43  // Linux 6.5
#endif

namespace cx::detail {
namespace {

// The sizes of struct connectx_opts ever published. A new field appends and adds a size here.
constexpr uint32_t kOptsSizes[] = {sizeof(connectx_opts)};

bool known_opts_size(uint32_t size) {
    for (uint32_t s : kOptsSizes)
        if (s == size) return true;
    return false;
}

// A caller's sockaddr into `out`, checked for length.
int take_address(const sockaddr* sa, socklen_t len, address& out) {
    if (len > socklen_t(sizeof(sockaddr_storage))) return EINVAL;
    auto a = address::from_sockaddr(sa, len);
    if (!a) return a.error().value();
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
            want = reinterpret_cast<const uint8_t*>(
                ip.sa()->sa_family == AF_INET
                    ? static_cast<const void*>(
                          &reinterpret_cast<const sockaddr_in*>(ip.sa())->sin_addr)
                    : static_cast<const void*>(
                          reinterpret_cast<const sockaddr_in6*>(ip.sa())->sin6_addr.s6_addr + 12));
            have = reinterpret_cast<const uint8_t*>(
                &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr);
            if (i->ifa_netmask)
                mask = reinterpret_cast<const uint8_t*>(
                    &reinterpret_cast<sockaddr_in*>(i->ifa_netmask)->sin_addr);
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

    // The addresses set the family the socket must have; check_socket holds the socket to it.
    if (!dst) return EINVAL;
    if (int e = take_address(dst, dst_len, out.dst)) return e;
    out.family = out.dst.family();
    if (out.dst.port() == 0 || out.dst.is_wildcard()) return EINVAL;
    if (src && src_len != 0) {
        if (int e = take_address(src, src_len, out.src)) return e;
        if (out.src.family() != out.family) return EAFNOSUPPORT;
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
        bool mapped = out.dst.is_v4_mapped();
        if (out.src_ip_given && out.src.is_v4_mapped() != mapped) return EAFNOSUPPORT;
        if (mapped) {
            int v6only;
            // Refused (ENOPROTOOPT, EOPNOTSUPP) only when the socket is not IPv6 after all.
            if (sys::getsockopt_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, v6only) != 0 || v6only)
                return EAFNOSUPPORT;
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

    if (out.ifindex) {
        if (int e = check_on_interface(out.src, out.ifindex)) return e;
    }
    return 0;
}

}  // namespace cx::detail
