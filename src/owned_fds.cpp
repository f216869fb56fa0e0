// owned_fds.cpp - the table of the library's long-lived file descriptors (see owned_fds.hpp).
#include "owned_fds.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
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
// The fork gate: creations and closes in flight, and forks in their prepare handler. A fork
// raises g_forking, then waits for g_active to drain; a creation waits while a fork is on.
// Sequentially consistent on both sides: each sees the other's store before its own load.
// (Not a pthread rwlock: a fork child could not release it, its thread id having changed.)
std::atomic<int> g_active{0};
std::atomic<int> g_forking{0};
std::atomic<unsigned> g_generation{0};

class gate_shared {
public:
    gate_shared() noexcept {
        for (;;) {
            while (g_forking.load() != 0) sched_yield();
            g_active.fetch_add(1);
            if (g_forking.load() == 0) return;
            g_active.fetch_sub(1);
        }
    }
    ~gate_shared() { g_active.fetch_sub(1); }
    gate_shared(const gate_shared&) = delete;
    gate_shared& operator=(const gate_shared&) = delete;
};

void init_once() {
    if (g_ready.load(std::memory_order_acquire)) return;
    static const bool done = [] {
        for (auto& s : g_fds) s.store(kFree, std::memory_order_relaxed);
        g_ready.store(true, std::memory_order_release);
        return true;
    }();
    (void)done;
}

// Records `fd`, or closes it and says why not.
int track_or_close(int fd, int& out) noexcept {
    if (fd < 0) return errno;
    if (int e = owned_fd_track(fd)) {
        ::close(fd);
        return e;
    }
    out = fd;
    return 0;
}

}  // namespace

int owned_socket(int domain, int type, int protocol, int& out) noexcept {
    gate_shared gate;
    return track_or_close(::socket(domain, type | SOCK_CLOEXEC, protocol), out);
}

int owned_open(const char* path, int flags, int& out) noexcept {
    gate_shared gate;
    return track_or_close(::open(path, flags), out);
}

int owned_make(int (*make)(void*), void* arg, int& out) noexcept {
    gate_shared gate;
    return track_or_close(make(arg), out);
}

unsigned owned_fds_generation() noexcept {
    return g_generation.load(std::memory_order_relaxed);
}

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
    gate_shared gate;
    const int start = fd % kSlots;
    for (int i = 0; i < kSlots; ++i) {
        auto& slot = g_fds[(start + i) % kSlots];
        int expected = fd;
        if (slot.compare_exchange_strong(expected, kFree, std::memory_order_acq_rel)) break;
    }
    ::close(fd);
}

void owned_fds_fork_prepare() noexcept {
    g_forking.fetch_add(1);
    while (g_active.load() != 0) sched_yield();
}

void owned_fds_fork_parent() noexcept {
    g_forking.fetch_sub(1);
}

void owned_fds_fork_child() noexcept {
    if (g_ready.load(std::memory_order_acquire)) {
        for (auto& slot : g_fds) {
            int fd = slot.exchange(kFree, std::memory_order_acq_rel);
            if (fd >= 0) ::close(fd);
        }
    }
    // Only this thread goes on: no creation is in flight here, and no other fork.
    g_generation.fetch_add(1, std::memory_order_relaxed);
    g_active.store(0);
    g_forking.store(0);
}

}  // namespace cx::detail
