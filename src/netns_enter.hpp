// netns_enter.hpp - doing something inside the network namespace of a socket: its
// SO_NETNS_COOKIE, entering its namespace for the calling thread (ioctl SIOCGSKNS + setns, then
// back), and opening an fd there when the thread stands elsewhere. Entering needs CAP_SYS_ADMIN;
// without it the step fails with its errno (EPERM) and the caller fails closed.
#pragma once

#include <cstdint>

#include "owned_fds.hpp"
#include "sys.hpp"

namespace cx::detail {

// The SO_NETNS_COOKIE of socket `fd`: 0 or an errno (ENOPROTOOPT before Linux 5.14).
[[nodiscard]] int netns_cookie_of(int fd, uint64_t& cookie) noexcept;

// Enters the network namespace of socket `sock_fd` for the calling thread, and returns to the
// thread's own namespace when destroyed.
class netns_visit {
public:
    ~netns_visit();
    [[nodiscard]] int enter(int sock_fd) noexcept;

private:
    unique_fd home_;
};

// Runs `open` in the namespace of `sock_fd` whose cookie is `cookie`: first where the thread is;
// if what it opened lives elsewhere, again inside the socket's namespace. `open` returns 0 or an
// errno and reports the (owned_fds-tracked) fd it made so its namespace can be checked.
template <class F>
[[nodiscard]] int open_in_netns(uint64_t cookie, int sock_fd, F open) {
    int probe_fd = -1;
    if (int e = open(probe_fd)) return e;
    uint64_t got;
    if (cookie == 0 || (netns_cookie_of(probe_fd, got) == 0 && got == cookie)) return 0;
    owned_fd_close(probe_fd);
    netns_visit visit;
    if (int e = visit.enter(sock_fd)) return e;
    return open(probe_fd);
}

// Enters the namespace of `sock_fd` (cookie `cookie`, 0 = unknown: stay) unless the calling
// thread already stands in it. 0 or an errno.
[[nodiscard]] int netns_enter_if_elsewhere(uint64_t cookie, int sock_fd,
                                           netns_visit& visit) noexcept;

}  // namespace cx::detail
