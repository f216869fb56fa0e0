// bind_path.cpp - bind(2) under the drop-in, and making a deferred bind real.
//
// bind(ip, 0) on a client socket must not lock a port: the port is chosen at connect, per
// destination. The kernel state after our bind is kept as close to today's as it can be:
//   TCP  IP_BIND_ADDRESS_NO_PORT + bind(ip, 0): the kernel holds the address, no port, exactly
//        as for a program that sets the option itself (curl, Envoy); listen() and connect() pick
//        the port as they do for such a program. getsockname() shows (ip, 0) to nobody: if the
//        program asks before connecting or listening, the bind is made real first (NO_PORT off,
//        bind again, which the kernel allows while no port is held), so it sees (ip, port) as
//        today.
//   UDP  nothing is bound; the source is remembered. UDP has no
//        kernel equivalent that connectx accepts, and a bound port is what the lock must choose.
//        The bind is made real, as today, the moment the program could notice: getsockname(),
//        or a sendto/sendmsg/sendmmsg with a destination (an unconnected socket sending).
// bind(ip, port) is made at once: servers are untouched. For TCP, a bind refused with
// EADDRINUSE is retried once with SO_REUSEADDR (connectx's explicit-port technique), and connect
// sets SO_REUSEADDR so the TIME_WAIT the connection leaves lets the next run pin the port again.
// Sockets the program marked SO_REUSEPORT, and descriptors of unknown history, pass through.
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

#include "paths.hpp"
#include "real_calls.hpp"
#include "sockaddr_util.hpp"

namespace cxp {
namespace {

using namespace slot_flag;

void remember_source(fd_slot& s, const sockaddr* sa) noexcept {
    std::memset(&s.source, 0, sizeof s.source);
    std::memcpy(&s.source, sa, inet_len(sa));
}

int bind_port(int fd, fd_slot& s, uint32_t f, const sockaddr* sa, socklen_t len) noexcept {
    const real_calls& r = real();
    int rc = r.bind(fd, sa, len);
    if (rc != 0 && errno == EADDRINUSE && (f & tcp) && !(f & reuseaddr) &&
        real_setsockopt_int(fd, SOL_SOCKET, SO_REUSEADDR, 1) == 0) {
        rc = r.bind(fd, sa, len);
        if (rc != 0) {
            int e = errno;
            real_setsockopt_int(fd, SOL_SOCKET, SO_REUSEADDR, 0);
            errno = e;
        }
    }
    if (rc == 0) s.flags.fetch_or(bound | ((f & tcp) ? pinned : 0), std::memory_order_release);
    return rc;
}

int bind_tcp_address(int fd, fd_slot& s, uint32_t f, const sockaddr* sa, socklen_t len) noexcept {
    const real_calls& r = real();
    if ((f & no_port) || real_setsockopt_int(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1) != 0)
        return r.bind(fd, sa, len);  // the program's own choice, or a kernel before 4.2
    if (r.bind(fd, sa, len) != 0) {
        int e = errno;
        real_setsockopt_int(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, 0);
        errno = e;
        return -1;
    }
    remember_source(s, sa);
    s.flags.fetch_or(deferred, std::memory_order_release);
    return 0;
}

void defer_udp(fd_slot& s, const sockaddr* sa) noexcept {
    remember_source(s, sa);
    s.flags.fetch_or(deferred, std::memory_order_release);
}

}  // namespace

uint32_t kind_from_socket_call(int domain, int type, int protocol) noexcept {
    if (domain != AF_INET && domain != AF_INET6) return known;
    uint32_t fam = domain == AF_INET6 ? inet6 : 0;
    int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (base == SOCK_STREAM && (protocol == 0 || protocol == IPPROTO_TCP)) return known | tcp | fam;
    if (base == SOCK_DGRAM && (protocol == 0 || protocol == IPPROTO_UDP)) return known | udp | fam;
    return known;
}

uint32_t kind_of(int fd, fd_slot& s) noexcept {
    uint32_t f = s.flags.load(std::memory_order_acquire);
    if (f & known) return f;
    int domain = 0, type = 0, protocol = 0;
    if (real_getsockopt_int(fd, SOL_SOCKET, SO_DOMAIN, domain) != 0 ||
        real_getsockopt_int(fd, SOL_SOCKET, SO_TYPE, type) != 0 ||
        real_getsockopt_int(fd, SOL_SOCKET, SO_PROTOCOL, protocol) != 0)
        return known;  // not a socket, or gone: the kernel will say so to the real call
    f = kind_from_socket_call(domain, type, protocol) | probed;
    s.flags.store(f, std::memory_order_release);
    return f;
}

int bind_path(int fd, const sockaddr* sa, socklen_t len) noexcept {
    const real_calls& r = real();
    fd_slot* s = slot_of(fd);
    if (!s || !is_inet(sa, len)) return r.bind(fd, sa, len);
    uint32_t f = kind_of(fd, *s);
    if (!(f & (tcp | udp)) || (f & (reuseport | probed | bound))) return r.bind(fd, sa, len);
    if (f & deferred) {  // today the first bind took a port, and a second bind is refused
        errno = EINVAL;
        return -1;
    }
    if ((sa->sa_family == AF_INET6) != bool(f & inet6)) return r.bind(fd, sa, len);
    if (port_of(sa) != 0) return bind_port(fd, *s, f, sa, len);
    if (f & tcp) return bind_tcp_address(fd, *s, f, sa, len);
    defer_udp(*s, sa);
    return 0;
}

int materialize(int fd, fd_slot& s) noexcept {
    uint32_t f = s.flags.load(std::memory_order_acquire);
    if (!(f & deferred)) return 0;
    const auto* src = reinterpret_cast<const sockaddr*>(&s.source);
    if ((f & tcp) && real_setsockopt_int(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, 0) != 0) return errno;
    if (real().bind(fd, src, inet_len(src)) != 0) {
        // Still deferred: a later connect keeps the program's source address.
        int e = errno;
        if (f & tcp) real_setsockopt_int(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1);
        return e;
    }
    s.flags.fetch_and(~deferred, std::memory_order_release);
    s.flags.fetch_or(bound, std::memory_order_release);
    return 0;
}

}  // namespace cxp
