// netns_registry.hpp - the per-process registry of namespace states (netns_state.hpp), keyed by
// SO_NETNS_COOKIE of the socket being connected, never by the caller's namespace, and counted
// references to them.
//
// Fork: a child must never talk over its parent's netlink sockets (replies would be stolen or
// cross-wired). A pthread_atfork child handler closes every fd the library holds (owned_fds.hpp)
// and marks the registry; the child's first call drops every inherited state and starts afresh.
// (A child made by a raw clone(2) or _Fork(), which run no fork handlers, is not detected; it
// still fails closed: a reply the other process takes is missing or names another socket, never
// "free".)
#pragma once

#include <cstdint>

#include "netns_enter.hpp"
#include "netns_state.hpp"

namespace cx::detail {

// A counted reference to the state of one namespace.
class netns_ref {
public:
    netns_ref() noexcept = default;
    netns_ref(const netns_ref&) = delete;
    netns_ref& operator=(const netns_ref&) = delete;
    ~netns_ref();
    netns_state* operator->() const noexcept { return s_; }
    netns_state& operator*() const noexcept { return *s_; }
    explicit operator bool() const noexcept { return s_ != nullptr; }

private:
    friend int netns_for_cookie(int, int, uint64_t, netns_ref&) noexcept;
    netns_state* s_ = nullptr;
    bool owned_ = false;  // not in the registry (it was full): deleted with the reference
};

// The state of the namespace socket `fd` lives in, created on first use. 0 or an errno: from
// SO_NETNS_COOKIE, from entering the namespace (EPERM), from opening netlink sockets or sysctls
// (EMFILE, ENFILE, ENOBUFS, ENOMEM, ...). On kernels before 5.14 (no SO_NETNS_COOKIE) the socket
// is assumed to live in the calling thread's namespace.
[[nodiscard]] int netns_for_socket(int fd, netns_ref& out) noexcept;
// The same, SO_NETNS_COOKIE already asked: `cookie_error` is that getsockopt's errno (0: `cookie`
// holds the answer).
[[nodiscard]] int netns_for_cookie(int fd, int cookie_error, uint64_t cookie,
                                   netns_ref& out) noexcept;

// The fork handlers (prepare, parent, child) of the registry and of owned_fds, installed once;
// anything that keeps an owned fd installs them before making it.
void install_fork_handlers() noexcept;

// Test hook: puts `fd` (any connected datagram socket; its peer plays the kernel) in the pool of
// `protocol` of socket `sock_fd`'s namespace, with `portid` as its netlink port id. Takes `fd`.
[[nodiscard]] int netns_test_inject(int sock_fd, int protocol, int fd, uint32_t portid) noexcept;
// Test hook: number of namespaces the registry holds for this process.
[[nodiscard]] int netns_test_count() noexcept;

}  // namespace cx::detail
