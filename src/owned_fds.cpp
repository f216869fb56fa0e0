// owned_fds.cpp - the table of the library's long-lived file descriptors (see owned_fds.hpp).
#include "owned_fds.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>

namespace cx::detail {
namespace {

// 16 namespaces x (two pools of 8, the monitor, two sysctl files) is 304; the rest is for
// sockets leased by threads in flight.
constexpr int kSlots = 1024;
constexpr int kFree = -1;
std::atomic<int> g_fds[kSlots] = {};
std::atomic<bool> g_ready{false};

void init_once() {
    if (g_ready.load(std::memory_order_acquire)) return;
    static const bool done = [] {
        for (auto& s : g_fds) s.store(kFree, std::memory_order_relaxed);
        g_ready.store(true, std::memory_order_release);
        return true;
    }();
    (void)done;
}

}  // namespace

int owned_fd_track(int fd) noexcept {
    init_once();
    // Start where this fd would hash to, so that lookups and inserts stay short.
    const int start = fd % kSlots;
    for (int i = 0; i < kSlots; ++i) {
        auto& slot = g_fds[(start + i) % kSlots];
        int expected = kFree;
        if (slot.compare_exchange_strong(expected, fd, std::memory_order_acq_rel)) return 0;
    }
    return ENOBUFS;
}

void owned_fd_close(int fd) noexcept {
    if (fd < 0) return;
    init_once();
    const int start = fd % kSlots;
    for (int i = 0; i < kSlots; ++i) {
        auto& slot = g_fds[(start + i) % kSlots];
        int expected = fd;
        if (slot.compare_exchange_strong(expected, kFree, std::memory_order_acq_rel)) break;
    }
    ::close(fd);
}

void owned_fds_close_all() noexcept {
    if (!g_ready.load(std::memory_order_acquire)) return;
    for (auto& slot : g_fds) {
        int fd = slot.exchange(kFree, std::memory_order_acq_rel);
        if (fd >= 0) ::close(fd);
    }
}

}  // namespace cx::detail
