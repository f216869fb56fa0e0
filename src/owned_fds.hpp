// owned_fds.hpp - every file descriptor the library holds beyond one call (netlink sockets, pooled
// or leased; the route monitor; sysctl files), so that a fork child can close them all at once.
// A child must never talk over its parent's netlink sockets, and the sockets that other threads of
// the parent were using at the moment of fork have no owner in the child: only this table still
// knows them. The table is fixed in size and lock-free (the fork child handler may not lock).
//
// Between socket() and the table, and between the table and close(), an fd is in no one's sight:
// a fork there would leave the child holding it. Creating and closing therefore hold a fork gate
// (shared); the fork prepare handler takes it exclusively, so a fork waits for those few
// instructions and never falls between them.
#pragma once

#include <utility>

namespace cx::detail {

// socket(2) (SOCK_CLOEXEC added) and open(2), the fd recorded as the library's before a fork can
// see it. 0 and the fd in `out`, or the errno: ENOBUFS when the table is full.
[[nodiscard]] int owned_socket(int domain, int type, int protocol, int& out) noexcept;
[[nodiscard]] int owned_open(const char* path, int flags, int& out) noexcept;
// Any other creation (io_uring_setup): `make(arg)` returns the new fd, or -1 with errno set.
[[nodiscard]] int owned_make(int (*make)(void*), void* arg, int& out) noexcept;

// Records an fd made elsewhere (a test's injected socket). Only for a process that does not fork
// meanwhile: the fd was briefly unrecorded. 0, or ENOBUFS (the caller closes `fd` and fails).
[[nodiscard]] int owned_fd_track(int fd) noexcept;

// Forgets `fd` and closes it. An fd the table does not know is closed all the same.
void owned_fd_close(int fd) noexcept;

// A tracked fd under construction: closed (owned_fd_close) unless released.
class owned_fd {
public:
    explicit owned_fd(int fd) noexcept : fd_(fd) {}
    owned_fd(const owned_fd&) = delete;
    owned_fd& operator=(const owned_fd&) = delete;
    ~owned_fd() { owned_fd_close(fd_); }
    int get() const noexcept { return fd_; }
    int release() noexcept { return std::exchange(fd_, -1); }

private:
    int fd_;
};

// How many forks this process is away from the one that loaded the library (the fork child
// handler counts): an fd recorded under another generation was closed by that handler.
[[nodiscard]] unsigned owned_fds_generation() noexcept;

// The fork handlers' part (netns_registry registers them): prepare waits for every creation and
// close in flight and holds the gate; parent lets go of it; child closes every recorded fd,
// empties the table and lets go. Async-signal-safe in the child.
void owned_fds_fork_prepare() noexcept;
void owned_fds_fork_parent() noexcept;
void owned_fds_fork_child() noexcept;

}  // namespace cx::detail
