// report.cpp - the --verbose line: "connectx-preload[PID]: udp 127.0.0.1:40000 -> 127.0.1.1:53
// udp-lock lookups=1". Formatted on the stack and written with one write(2): no allocation, and
// lines from several threads or processes do not interleave.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "paths.hpp"
#include "real_calls.hpp"

namespace cxp {
namespace {

// "a.b.c.d:port" or "[v6]:port" into buf; "?" when unknown.
void format(const sockaddr* sa, char (&buf)[INET6_ADDRSTRLEN + 10]) noexcept {
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa && sa->sa_family == AF_INET) {
        auto* a = reinterpret_cast<const sockaddr_in*>(sa);
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        port = ntohs(a->sin_port);
        std::snprintf(buf, sizeof buf, "%s:%u", ip, port);
    } else if (sa && sa->sa_family == AF_INET6) {
        auto* a = reinterpret_cast<const sockaddr_in6*>(sa);
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        port = ntohs(a->sin6_port);
        std::snprintf(buf, sizeof buf, "[%s]:%u", ip, port);
    } else {
        std::snprintf(buf, sizeof buf, "?");
    }
}

}  // namespace

void report_connection(int fd, const char* technique, uint32_t lookups, const sockaddr* local,
                       const sockaddr* remote, int error) noexcept {
    sockaddr_storage own;
    if (!local) {
        socklen_t len = sizeof own;
        std::memset(&own, 0, sizeof own);
        if (real().getsockname(fd, reinterpret_cast<sockaddr*>(&own), &len) == 0)
            local = reinterpret_cast<const sockaddr*>(&own);
    }
    int type = 0;
    socklen_t tl = sizeof type;
    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl);
    char l[INET6_ADDRSTRLEN + 10], r[INET6_ADDRSTRLEN + 10];
    format(local, l);
    format(remote, r);
    char line[320];
    int n =
        std::snprintf(line, sizeof line, "connectx-preload[%d]: %s %s -> %s %s lookups=%u%s%s\n",
                      int(getpid()), type == SOCK_DGRAM ? "udp" : "tcp", l, r, technique, lookups,
                      error ? " error=" : "", error ? strerrorname_np(error) : "");
    if (n > 0) (void)!write(2, line, size_t(n) < sizeof line ? size_t(n) : sizeof line - 1);
}

}  // namespace cxp
