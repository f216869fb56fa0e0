// route_cache.cpp - the per-namespace route cache and its rtnetlink monitor.
#include "route_cache.hpp"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cerrno>

#include "owned_fds.hpp"
#include "sys.hpp"

namespace cx::detail {

route_cache::~route_cache() {
    owned_fd_close(monitor_fd_);
}

void route_cache::open_monitor() noexcept {
    unique_fd fd;
    if (sys::socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK, NETLINK_ROUTE, fd) != 0) return;
    if (owned_fd_track(fd.get()) != 0) return;
    owned_fd s(fd.release());
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
    alignas(nlmsghdr) static thread_local uint8_t buf[8192];
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

void route_cache::invalidate_if_changed() noexcept {
    if (!drain_monitor()) return;
    for (auto& r : routes_) r.valid = false;
    ++gen_;
}

bool route_cache::cached(const route_query& q, route_answer& out, uint64_t& gen) noexcept {
    std::lock_guard lock(mu_);
    invalidate_if_changed();
    gen = gen_;
    if (monitor_fd_ < 0) return false;
    for (const auto& r : routes_)
        if (r.valid && r.q == q) {
            out = r.a;
            return true;
        }
    return false;
}

void route_cache::store(const route_query& q, const route_answer& a, uint64_t gen) noexcept {
    std::lock_guard lock(mu_);
    invalidate_if_changed();  // a change since the answer was asked for: keep nothing
    if (monitor_fd_ < 0 || gen != gen_) return;
    routes_[next_] = {q, a, true};
    next_ = (next_ + 1) % kRoutes;
}

}  // namespace cx::detail
