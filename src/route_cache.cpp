// route_cache.cpp - the per-namespace route cache and its rtnetlink monitor.
#include "route_cache.hpp"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cerrno>
#include <new>

#include "owned_fds.hpp"
#include "sys.hpp"

namespace cx::detail {

route_cache::~route_cache() {
    owned_fd_close(monitor_fd_);
}

void route_cache::open_monitor() noexcept {
    int fd;
    if (owned_socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK, NETLINK_ROUTE, fd) != 0) return;
    owned_fd s(fd);
    sockaddr_nl local{};
    local.nl_family = AF_NETLINK;
    local.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV4_RULE |
                      RTMGRP_IPV6_IFADDR | RTMGRP_IPV6_ROUTE | (1u << (RTNLGRP_IPV6_RULE - 1));
    if (::bind(s.get(), reinterpret_cast<sockaddr*>(&local), sizeof local) < 0) return;
    int group = RTNLGRP_NEXTHOP;  // beyond the 32-bit mask
    if (sys::setsockopt_int(s.get(), SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, group) != 0) return;
    monitor_fd_ = s.release();
}

bool route_cache::drain_monitor() noexcept {
    if (monitor_fd_ < 0) return true;
    // Only whether a notification came matters, not what it says: each datagram is taken
    // whole (MSG_TRUNC drops what does not fit) into a few bytes.
    alignas(nlmsghdr) uint8_t buf[sizeof(nlmsghdr)];
    bool changed = false;
    for (;;) {
        ssize_t n = ::recv(monitor_fd_, buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC);
        if (n >= 0) {
            changed = true;  // any notification: forget everything (they are rare)
            continue;
        }
        if (errno == EINTR) continue;
        // ENOBUFS: notifications were lost, so anything may have changed.
        if (errno != EAGAIN && errno != EWOULDBLOCK) changed = true;
        if (errno == ENOBUFS) continue;
        return changed;
    }
}

size_t route_cache::route_slot(const route_query& q) noexcept {
    uint64_t h = 1469598103934665603ull;  // FNV-1a over the question's fields
    auto mix = [&](const void* p, size_t n) {
        for (size_t i = 0; i < n; ++i)
            h = (h ^ static_cast<const uint8_t*>(p)[i]) * 1099511628211ull;
    };
    mix(&q.family, sizeof q.family);
    mix(q.dst, sizeof q.dst);
    mix(q.src, sizeof q.src);
    mix(&q.oif, sizeof q.oif);
    mix(&q.mark, sizeof q.mark);
    mix(&q.uid, sizeof q.uid);
    mix(&q.sport, sizeof q.sport);
    mix(&q.dport, sizeof q.dport);
    mix(&q.protocol, sizeof q.protocol);
    mix(&q.tos, sizeof q.tos);
    return size_t(h % kRoutes);
}

void route_cache::invalidate_if_changed() noexcept {
    if (!drain_monitor()) return;
    if (routes_)
        for (size_t i = 0; i < kRoutes; ++i) routes_[i].valid = false;
    ++gen_;
}

bool route_cache::cached(const route_query& q, route_answer& out, uint64_t& gen) noexcept {
    std::lock_guard lock(mu_);
    invalidate_if_changed();
    gen = gen_;
    if (monitor_fd_ < 0 || !routes_) return false;
    const route_entry& r = routes_[route_slot(q)];
    if (!r.valid || !(r.q == q)) return false;
    out = r.a;
    return true;
}

void route_cache::store(const route_query& q, const route_answer& a, uint64_t gen) noexcept {
    std::lock_guard lock(mu_);
    invalidate_if_changed();  // a change since the answer was asked for: keep nothing
    if (monitor_fd_ < 0 || gen != gen_) return;
    if (!routes_) routes_.reset(new (std::nothrow) route_entry[kRoutes]);
    if (!routes_) return;  // no memory: no cache
    routes_[route_slot(q)] = {q, a, true};
}

}  // namespace cx::detail
