// netns_state.cpp - the facade over one namespace's parts: leases opened in the namespace, the
// port sysctls re-read on demand.
#include "netns_state.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>
#include <string_view>
#include <vector>

#include "netns_enter.hpp"
#include "owned_fds.hpp"

namespace cx::detail {

netns_state::~netns_state() {
    owned_fd_close(range_fd_);
    owned_fd_close(reserved_fd_);
}

void netns_state::forget_after_fork() noexcept {
    // The fork child handler has closed them all (owned_fds_fork_child): only forget.
    pools_.forget_after_fork();
    routes_.forget_after_fork();
    range_fd_ = reserved_fd_ = -1;
}

int netns_state::lease(int protocol, int sock_fd, nl_lease& out) noexcept {
    if (pools_.take(protocol, out)) return 0;
    nl_socket s;
    int e = open_in_netns(cookie_, sock_fd, [&](int& fd) {
        if (int e2 = nl_open(protocol, s)) return e2;
        fd = s.fd;
        return 0;
    });
    if (e) return e;
    pools_.lend(protocol, s, out);
    return 0;
}

port_span netns_state::range_copy() noexcept {
    std::lock_guard lock(mu);
    return range;
}

void netns_state::reserved_copy(reserved_ports& out) noexcept {
    std::lock_guard lock(mu);
    out = reserved;
}

int netns_state::open_sysctls() noexcept {
    char path[128];
    std::snprintf(path, sizeof path, "/proc%s", kPortRangePath);
    if (int e = owned_open(path, O_RDONLY | O_CLOEXEC, range_fd_)) return e;
    std::snprintf(path, sizeof path, "/proc%s", kReservedPortsPath);
    return owned_open(path, O_RDONLY | O_CLOEXEC, reserved_fd_);
}

namespace {

// The whole of ip_local_port_range, in a per-thread buffer.
int read_range_text(int fd, std::string_view& out) noexcept {
    static thread_local char buf[64];
    size_t len;
    if (int e = read_whole(fd, buf, sizeof buf, len)) return e;
    out = std::string_view(buf, len);
    return 0;
}

// The whole of ip_local_reserved_ports. The list is usually short, but may be ~200 KB: the
// per-thread buffer grows once and is reused, so steady-state calls do not allocate.
int read_reserved_text(int fd, std::string_view& out) noexcept {
    static thread_local std::vector<char> buf;
    size_t len;
    try {
        if (buf.empty()) buf.resize(4096);
        // procfs allocates and zeroes a kernel buffer of the size asked for: ask for little first
        // (the list is usually empty or short) and for more only when that was not enough.
        size_t ask = 256;
        for (;;) {
            int e = read_whole(fd, buf.data(), ask, len);
            if (e == 0) break;
            if (e != EOVERFLOW || ask >= (1u << 20)) return e;
            ask *= 4;
            if (buf.size() < ask) buf.resize(ask);
        }
    } catch (const std::bad_alloc&) {
        return ENOMEM;
    }
    out = std::string_view(buf.data(), len);
    return 0;
}

}  // namespace

int netns_state::refresh_sysctls() noexcept {
    // Unknown until this read succeeds: a failed read leaves the next call to read again.
    sysctls_known_.store(false, std::memory_order_release);
    std::string_view range_text, reserved_text;
    if (int e = read_range_text(range_fd_, range_text)) return e;
    if (int e = read_reserved_text(reserved_fd_, reserved_text)) return e;
    std::lock_guard lock(mu);
    if (int e = parse_changed_sysctls(range_text, reserved_text)) return e;
    sysctls_known_.store(true, std::memory_order_release);
    return 0;
}

int netns_state::parse_changed_sysctls(std::string_view range_text,
                                       std::string_view reserved_text) noexcept {
    try {
        if (range_text != range_text_) {
            auto r = parse_port_range(range_text);
            if (!r) return EPROTO;
            range = *r;
            range_text_.assign(range_text);
            sysctl_changes_.fetch_add(1, std::memory_order_relaxed);
        }
        if (reserved_text != reserved_text_) {
            if (!reserved.parse(reserved_text)) {
                reserved_text_.clear();  // the bitmap was cleared: re-parse next time
                return EPROTO;
            }
            reserved_text_.assign(reserved_text);
            sysctl_changes_.fetch_add(1, std::memory_order_relaxed);
        }
    } catch (const std::bad_alloc&) {
        range_text_.clear();
        reserved_text_.clear();
        return ENOMEM;
    }
    return 0;
}

}  // namespace cx::detail
