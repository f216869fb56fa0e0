// sockaddr_util.hpp - small facts about the sockaddrs a program passes (no system calls).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>

namespace cxp {

// An AF_INET or AF_INET6 address long enough for its family.
inline bool is_inet(const sockaddr* sa, socklen_t len) noexcept {
    if (!sa) return false;
    if (len >= socklen_t(sizeof(sockaddr_in)) && sa->sa_family == AF_INET) return true;
    return len >= socklen_t(sizeof(sockaddr_in6)) && sa->sa_family == AF_INET6;
}

inline socklen_t inet_len(const sockaddr* sa) noexcept {
    return sa->sa_family == AF_INET ? socklen_t(sizeof(sockaddr_in))
                                    : socklen_t(sizeof(sockaddr_in6));
}

// Host order.
inline uint16_t port_of(const sockaddr* sa) noexcept {
    uint16_t p;
    if (sa->sa_family == AF_INET)
        std::memcpy(&p, &reinterpret_cast<const sockaddr_in*>(sa)->sin_port, sizeof p);
    else
        std::memcpy(&p, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_port, sizeof p);
    return ntohs(p);
}

inline bool is_v4_mapped(const sockaddr* sa) noexcept {
    if (sa->sa_family != AF_INET6) return false;
    in6_addr a;
    std::memcpy(&a, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, sizeof a);
    return IN6_IS_ADDR_V4MAPPED(&a);
}

// `v4` (port 0) as ::ffff:a.b.c.d.
inline sockaddr_in6 mapped(const sockaddr_in& v4) noexcept {
    sockaddr_in6 m{};
    m.sin6_family = AF_INET6;
    m.sin6_addr.s6_addr[10] = m.sin6_addr.s6_addr[11] = 0xff;
    std::memcpy(&m.sin6_addr.s6_addr[12], &v4.sin_addr, 4);
    return m;
}

}  // namespace cxp
