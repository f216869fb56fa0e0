// netns_state.cpp - the facade over one namespace's parts: leases opened in the namespace, the
// port sysctls re-read on demand, and the UDP port hints.
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
    // The fork child handler has closed them all (owned_fds_close_all): only forget.
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
    auto open_tracked = [](const char* file, int& out) {
        int fd = ::open(file, O_RDONLY | O_CLOEXEC);
        if (fd < 0) return errno;
        if (int e = owned_fd_track(fd)) {
            ::close(fd);
            return e;
        }
        out = fd;
        return 0;
    };
    if (int e = open_tracked(path, range_fd_)) return e;
    std::snprintf(path, sizeof path, "/proc%s", kReservedPortsPath);
    return open_tracked(path, reserved_fd_);
}

int netns_state::refresh_sysctls() noexcept {
    // Per-thread read buffers: the reserved list is usually short, but may be ~200 KB; the
    // buffer grows once and is reused, so steady-state calls do not allocate.
    static thread_local char range_buf[64];
    static thread_local std::vector<char> reserved_buf;
    size_t range_len, reserved_len;
    // Unknown until this read succeeds: a failed read leaves the next call to read again.
    sysctls_known_.store(false, std::memory_order_release);
    if (int e = read_whole(range_fd_, range_buf, sizeof range_buf, range_len)) return e;
    try {
        if (reserved_buf.empty()) reserved_buf.resize(4096);
        // procfs allocates and zeroes a kernel buffer of the size asked for: ask for little first
        // (the list is usually empty or short) and for more only when that was not enough.
        size_t ask = 256;
        for (;;) {
            int e = read_whole(reserved_fd_, reserved_buf.data(), ask, reserved_len);
            if (e == 0) break;
            if (e != EOVERFLOW || ask >= (1u << 20)) return e;
            ask *= 4;
            if (reserved_buf.size() < ask) reserved_buf.resize(ask);
        }
    } catch (const std::bad_alloc&) {
        return ENOMEM;
    }
    std::string_view range_text(range_buf, range_len);
    std::string_view reserved_text(reserved_buf.data(), reserved_len);
    std::lock_guard lock(mu);
    try {
        if (range_text != range_text_) {
            auto r = parse_port_range(range_text);
            if (!r) return EPROTO;
            range = *r;
            range_text_.assign(range_text);
        }
        if (reserved_text != reserved_text_) {
            if (!reserved.parse(reserved_text)) {
                reserved_text_.clear();  // the bitmap was cleared: re-parse next time
                return EPROTO;
            }
            reserved_text_.assign(reserved_text);
        }
    } catch (const std::bad_alloc&) {
        range_text_.clear();
        reserved_text_.clear();
        return ENOMEM;
    }
    sysctls_known_.store(true, std::memory_order_release);
    return 0;
}

port_hint* netns_state::hint(const port_hint_key& key) noexcept {
    ++tick_;
    port_hint* victim = &hints_[0];
    for (port_hint& h : hints_) {
        if (h.claimed && h.key == key) {
            h.last_use = tick_;
            return &h;
        }
        if (!h.claimed || (victim->claimed && h.last_use < victim->last_use)) victim = &h;
    }
    if (!victim->taken) {
        victim->taken.reset(new (std::nothrow) uint64_t[port_hint::kWords]);
        victim->blocked.reset(new (std::nothrow) uint64_t[port_hint::kWords]);
        if (!victim->taken || !victim->blocked) {
            victim->taken.reset();
            victim->blocked.reset();
            return nullptr;
        }
    }
    std::memset(victim->taken.get(), 0, port_hint::kWords * sizeof(uint64_t));
    std::memset(victim->blocked.get(), 0, port_hint::kWords * sizeof(uint64_t));
    victim->key = key;
    victim->claimed = true;
    victim->dumped_at = 0;
    victim->picks = 0;
    victim->last_use = tick_;
    return victim;
}

}  // namespace cx::detail
