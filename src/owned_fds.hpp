// owned_fds.hpp - every file descriptor the library holds beyond one call (netlink sockets, pooled
// or leased; the route monitor; sysctl files), so that a fork child can close them all at once.
// A child must never talk over its parent's netlink sockets, and the sockets that other threads of
// the parent were using at the moment of fork have no owner in the child: only this table still
// knows them. The table is fixed in size and lock-free (the fork child handler may not lock).
#pragma once

namespace cx::detail {

// Records `fd` as the library's. 0, or ENOBUFS when the table is full (the caller then closes
// `fd` and fails: an fd the child could not find would outlive a fork).
int owned_fd_track(int fd) noexcept;

// Forgets `fd` and closes it. An fd the table does not know is closed all the same.
void owned_fd_close(int fd) noexcept;

// In a fork child: closes every recorded fd and empties the table. Async-signal-safe.
void owned_fds_close_all() noexcept;

}  // namespace cx::detail
