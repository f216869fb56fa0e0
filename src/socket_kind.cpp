// socket_kind.cpp - the socket-kind probe and what the process learned from earlier calls.
#include "socket_kind.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>

#include "sock_ops.hpp"
#include "sys.hpp"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif
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

int ask_udp_answers(int fd, bool route, udp_answers& out, int* protocol) noexcept {
    sock_ops ask(fd, sock_ops::mode::each);
    const int first = protocol ? 1 : 0;
    if (protocol) ask.get(SOL_SOCKET, SO_PROTOCOL, protocol, sizeof *protocol);
    ask.get(SOL_SOCKET, SO_REUSEPORT, &out.reuseport, sizeof out.reuseport);
    ask.get(SOL_SOCKET, SO_NETNS_COOKIE, &out.netns_cookie, sizeof out.netns_cookie);
    ask.get(SOL_SOCKET, SO_REUSEADDR, &out.reuseaddr, sizeof out.reuseaddr);
    if (route) ask.get(SOL_SOCKET, SO_BINDTOIFINDEX, &out.device, sizeof out.device);
    ask.run();
    out.reuseport_error = ask.error(first);
    out.netns_cookie_error = ask.error(first + 1);
    out.reuseaddr_error = ask.error(first + 2);
    if (route) out.device_error = ask.error(first + 3);
    out.device_asked = route;
    out.asked = true;
    return protocol ? ask.error(0) : 0;
}

int socket_kind_of(int fd, bool route, socket_kind& out) noexcept {
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
    out.udp.asked = false;
    if (out.proof == tcp_proof::proven) {
        out.protocol = IPPROTO_TCP;
    } else if (last == IPPROTO_UDP && sock_ops::batches()) {
        if (int e = ask_udp_answers(fd, route, out.udp, &out.protocol)) return e;
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
