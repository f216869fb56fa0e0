// owned_fds.hpp - every file descriptor the library holds beyond one call (netlink sockets, pooled
// or leased; the route monitor; sysctl files), so that a fork child can close them all at once.
// A child must never talk over its parent's netlink sockets, and the sockets that other threads of
// the parent were using at the moment of fork have no owner in the child: only this table still
// knows them. The table is fixed in size and lock-free (the fork child handler may not lock).
#pragma once

#include <utility>

namespace cx::detail {

// Records `fd` as the library's. 0, or ENOBUFS when the table is full (the caller then closes
// `fd` and fails: an fd the child could not find would outlive a fork).
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

// In a fork child: closes every recorded fd and empties the table. Async-signal-safe.
void owned_fds_close_all() noexcept;

}  // namespace cx::detail
