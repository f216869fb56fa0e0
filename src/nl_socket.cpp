// nl_socket.cpp - netlink sockets connected to the kernel, and one-datagram send and receive.
#include "nl_socket.hpp"

#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "owned_fds.hpp"
#include "sys.hpp"

namespace cx::detail {
namespace {

std::atomic<int> g_timeout_ms{1000};

}  // namespace

int nl_send(int fd, const void* buf, size_t len) noexcept {
    for (;;) {
        ssize_t n = ::send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno;
        return size_t(n) == len ? 0 : EPROTO;
    }
}

int nl_recv(int fd, void* buf, size_t cap, size_t& len) noexcept {
    len = 0;
    iovec iov{buf, cap};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    for (;;) {
        ssize_t n = ::recvmsg(fd, &msg, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? ETIMEDOUT : errno;
        if (msg.msg_flags & MSG_TRUNC) return EPROTO;
        len = size_t(n);
        return 0;
    }
}

void nl_set_timeout_ms(int ms) noexcept {
    g_timeout_ms.store(ms);
}

int nl_apply_timeout(int fd) noexcept {
    int ms = g_timeout_ms.load();
    timeval tv{ms / 1000, (ms % 1000) * 1000};
    return sys::err(::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
}

int nl_open(int protocol, nl_socket& out) noexcept {
    int fd;
    if (int e = owned_socket(AF_NETLINK, SOCK_RAW, protocol, fd)) return e;
    owned_fd s(fd);
    if (int e = nl_apply_timeout(s.get())) return e;
    sockaddr_nl local{};
    local.nl_family = AF_NETLINK;  // nl_pid 0: the kernel assigns a port id
    if (::bind(s.get(), reinterpret_cast<sockaddr*>(&local), sizeof local) < 0) return errno;
    // Connected to the kernel: a unicast from any other port is refused (ECONNREFUSED to the
    // sender), so only the kernel's replies reach this socket.
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (::connect(s.get(), reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) return errno;
    socklen_t len = sizeof local;
    if (::getsockname(s.get(), reinterpret_cast<sockaddr*>(&local), &len) < 0) return errno;
    uint32_t seed;
    if (::getentropy(&seed, sizeof seed) < 0) seed = uint32_t(::getpid());
    out.fd = s.release();
    out.portid = local.nl_pid;
    out.seq = seed;
    return 0;
}

}  // namespace cx::detail
