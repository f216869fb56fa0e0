// socket_kind.cpp - the socket-kind probe and what the process learned from earlier calls.
#include "socket_kind.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>

#include "sys.hpp"

#ifndef TCP_IS_MPTCP
#define TCP_IS_MPTCP 43  // Linux 6.5
#endif

namespace cx::detail {
namespace {

std::atomic<int> g_last_protocol{IPPROTO_TCP};
std::atomic<int> g_tcp_probe{TCP_IS_MPTCP};

// The errno for a socket that is neither TCP nor UDP.
int not_tcp_or_udp(int fd) {
    sockaddr_storage self;
    socklen_t len = sizeof self;
    if (int e = sys::getsockname(fd, reinterpret_cast<sockaddr*>(&self), len)) return e;
    return self.ss_family == AF_INET || self.ss_family == AF_INET6 ? EPROTOTYPE : EAFNOSUPPORT;
}

}  // namespace

int socket_kind_of(int fd, socket_kind& out) noexcept {
    int last = g_last_protocol.load(std::memory_order_relaxed);
    out.option = g_tcp_probe.load(std::memory_order_relaxed);
    out.proof = tcp_proof::not_asked;
    if (last == IPPROTO_TCP && out.option != 0) {
        int v;
        int e = sys::getsockopt_int(fd, IPPROTO_TCP, out.option, v);
        if (e == EBADF || e == ENOTSOCK) return e;
        bool tcp = e == 0 && (out.option != TCP_IS_MPTCP || v == 0);
        out.proof = tcp ? tcp_proof::proven : tcp_proof::refused;
    }
    if (out.proof == tcp_proof::proven) {
        out.protocol = IPPROTO_TCP;
    } else if (int e = sys::getsockopt_int(fd, SOL_SOCKET, SO_PROTOCOL, out.protocol)) {
        return e;
    }
    if (out.protocol != IPPROTO_TCP && out.protocol != IPPROTO_UDP) return not_tcp_or_udp(fd);
    if (out.protocol != last) g_last_protocol.store(out.protocol, std::memory_order_relaxed);
    return 0;
}

void socket_kind_confirmed(const socket_kind& k) noexcept {
    if (k.proof != tcp_proof::refused || k.protocol != IPPROTO_TCP) return;
    int option = k.option;
    g_tcp_probe.compare_exchange_strong(option, option == TCP_IS_MPTCP ? TCP_SYNCNT : 0,
                                        std::memory_order_relaxed);
}

}  // namespace cx::detail
