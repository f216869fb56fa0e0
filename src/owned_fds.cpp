// owned_fds.cpp - the table of the library's long-lived file descriptors (see owned_fds.hpp).
#include "owned_fds.hpp"

#include <fcntl.h>
#include <pthread.h>
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
// Writer-preferring: a stream of creations cannot hold a fork off. Never taken twice by one
// thread (a waiting writer would block the second shared lock).
pthread_rwlock_t g_gate = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;

class gate_shared {
public:
    gate_shared() noexcept { pthread_rwlock_rdlock(&g_gate); }
    ~gate_shared() { pthread_rwlock_unlock(&g_gate); }
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
    pthread_rwlock_wrlock(&g_gate);
}

void owned_fds_fork_parent() noexcept {
    pthread_rwlock_unlock(&g_gate);
}

void owned_fds_fork_child() noexcept {
    if (g_ready.load(std::memory_order_acquire)) {
        for (auto& slot : g_fds) {
            int fd = slot.exchange(kFree, std::memory_order_acq_rel);
            if (fd >= 0) ::close(fd);
        }
    }
    pthread_rwlock_unlock(&g_gate);  // held by this thread, the only one the child has
}

}  // namespace cx::detail
