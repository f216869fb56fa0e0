// nl_pool.cpp - pooled netlink sockets of one namespace and their leases.
#include "nl_pool.hpp"

#include <linux/netlink.h>

#include "owned_fds.hpp"

namespace cx::detail {

nl_lease::~nl_lease() {
    if (s_.fd < 0) return;
    if (owner_)
        owner_->give_back(protocol_, s_);
    else
        owned_fd_close(s_.fd);
}

void nl_lease::discard() noexcept {
    owned_fd_close(s_.fd);
    s_ = nl_socket{};
}

nl_pools::~nl_pools() {
    for (pool* p : {&diag_, &route_})
        for (int i = 0; i < p->n; ++i) owned_fd_close(p->s[i].fd);
}

nl_pools::pool& nl_pools::pool_of(int protocol) noexcept {
    return protocol == NETLINK_ROUTE ? route_ : diag_;
}

bool nl_pools::take(int protocol, nl_lease& out) noexcept {
    out.discard();
    out.owner_ = this;
    out.protocol_ = protocol;
    std::lock_guard lock(mu_);
    pool& p = pool_of(protocol);
    if (p.n == 0) return false;
    out.s_ = p.s[--p.n];
    return true;
}

void nl_pools::lend(int protocol, nl_socket s, nl_lease& out) noexcept {
    out.discard();
    out.owner_ = this;
    out.protocol_ = protocol;
    out.s_ = s;
}

void nl_pools::give_back(int protocol, nl_socket s) noexcept {
    {
        std::lock_guard lock(mu_);
        pool& p = pool_of(protocol);
        if (p.n < kPool) {
            p.s[p.n++] = s;
            return;
        }
    }
    owned_fd_close(s.fd);
}

void nl_pools::drain(int protocol) noexcept {
    std::lock_guard lock(mu_);
    pool& p = pool_of(protocol);
    for (int i = 0; i < p.n; ++i) owned_fd_close(p.s[i].fd);
    p.n = 0;
}

void nl_pools::forget_after_fork() noexcept {
    for (pool* p : {&diag_, &route_}) p->n = 0;
}

}  // namespace cx::detail
