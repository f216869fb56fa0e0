// route_cache.hpp - route answers of one network namespace, valid until its routing state
// changes. The cache keeps an rtnetlink socket subscribed to link, address, route, rule and
// nexthop notifications; the kernel queues a notification before the changing call returns, so
// draining it first makes a change visible to the very next lookup. Without the subscription
// nothing is cached. Owns its lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include "route_lookup.hpp"

namespace cx::detail {

class route_cache {
public:
    ~route_cache();

    // Subscribes, in the calling thread's namespace. No cache (every lookup a miss) if it fails.
    void open_monitor() noexcept;
    // Fills `out` and returns true on a hit. Always sets `gen`, which store() needs to refuse an
    // answer that may predate a change seen meanwhile.
    [[nodiscard]] bool cached(const route_query& q, route_answer& out, uint64_t& gen) noexcept;
    void store(const route_query& q, const route_answer& a, uint64_t gen) noexcept;
    // In a fork child, after owned_fds_fork_child(): forget the fd, never touch the lock.
    void forget_after_fork() noexcept { monitor_fd_ = -1; }

private:
    bool drain_monitor() noexcept;  // true when the routing state may have changed
    void invalidate_if_changed() noexcept;

    // Answers by the hash of their question, one per slot: a program that talks to thousands of
    // destinations keeps most of theirs (~100 bytes a slot, allocated on first use), and a
    // collision costs one rtnetlink round trip.
    static constexpr size_t kRoutes = 1024;
    struct route_entry {
        route_query q;
        route_answer a;
        bool valid = false;
    };
    static size_t route_slot(const route_query& q) noexcept;
    std::mutex mu_;  // guards everything below
    int monitor_fd_ = -1;
    uint64_t gen_ = 1;
    std::unique_ptr<route_entry[]> routes_;
};

}  // namespace cx::detail
