// netns_enter.cpp - SO_NETNS_COOKIE and entering a socket's network namespace.
#include "netns_enter.hpp"

#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/sockios.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

namespace cx::detail {

int netns_cookie_of(int fd, uint64_t& cookie) noexcept {
    return sys::getsockopt_u64(fd, SOL_SOCKET, SO_NETNS_COOKIE, cookie);
}

int netns_visit::enter(int sock_fd) noexcept {
    unique_fd target(::ioctl(sock_fd, SIOCGSKNS));
    if (!target) return errno;
    home_.reset(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (!home_) return errno;
    if (::setns(target.get(), CLONE_NEWNET) < 0) {
        home_.reset();
        return errno;
    }
    return 0;
}

netns_visit::~netns_visit() {
    // Going home cannot fail for a thread that could leave (same capability, a namespace that
    // its open fd keeps alive).
    if (home_) ::setns(home_.get(), CLONE_NEWNET);
}

int netns_enter_if_elsewhere(uint64_t cookie, int sock_fd, netns_visit& visit) noexcept {
    if (cookie == 0) return 0;
    // Where the thread stands: the cookie of a socket it opens.
    unique_fd here;
    if (int e = sys::socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE, here)) return e;
    uint64_t c = 0;
    if (int e = netns_cookie_of(here.get(), c)) return e;
    return c == cookie ? 0 : visit.enter(sock_fd);
}

}  // namespace cx::detail
