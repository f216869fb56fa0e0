// nl_pool.hpp - the netlink sockets of one network namespace not in use right now
// (NETLINK_SOCK_DIAG and NETLINK_ROUTE, a few of each), and the lease by which one thread uses
// one of them at a time. Owns its lock. Opening new sockets is the namespace state's (it knows
// where the namespace is); this part only keeps and lends.
#pragma once

#include <mutex>

#include "nl_socket.hpp"

namespace cx::detail {

class nl_pools;

// Exclusive use of one netlink socket. Returned to its pool when the lease ends, unless
// discard() was called: after a timeout or a bad reply the socket may still receive a late
// answer, so it is closed instead of reused.
class nl_lease {
public:
    nl_lease() noexcept = default;
    nl_lease(const nl_lease&) = delete;
    nl_lease& operator=(const nl_lease&) = delete;
    ~nl_lease();
    int fd() const noexcept { return s_.fd; }
    uint32_t portid() const noexcept { return s_.portid; }
    uint32_t next_seq() noexcept { return ++s_.seq; }
    void discard() noexcept;

private:
    friend class nl_pools;
    nl_pools* owner_ = nullptr;
    int protocol_ = 0;
    nl_socket s_;
};

class nl_pools {
public:
    ~nl_pools();

    // Lends a pooled socket of `protocol` through `out` (whose previous socket is closed).
    // False when none is pooled.
    [[nodiscard]] bool take(int protocol, nl_lease& out) noexcept;
    // Lends `s`, a socket just opened, through `out`: it comes back here when the lease ends.
    void lend(int protocol, nl_socket s, nl_lease& out) noexcept;
    // Into the pool (closed if the pool is full).
    void give_back(int protocol, nl_socket s) noexcept;
    // Closes the pooled sockets of `protocol`.
    void drain(int protocol) noexcept;
    // In a fork child, after owned_fds_fork_child(): forget the fds, never touch the lock.
    void forget_after_fork() noexcept;

private:
    static constexpr int kPool = 8;
    struct pool {
        nl_socket s[kPool];
        int n = 0;
    };
    pool& pool_of(int protocol) noexcept;

    std::mutex mu_;  // guards the pools
    pool diag_, route_;
};

}  // namespace cx::detail
