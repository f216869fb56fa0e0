// workers.cpp - the worker process: open connections, report, hold them, exit when released.
#include "workers.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

namespace cxstress {
namespace {

// File descriptors kept free for what a connect needs besides its socket (the library's
// netlink sockets) and for the process's own use.
constexpr int kSpareFds = 32;
// How often the shared progress counter is updated: often enough for a smooth bar, rarely
// enough to stay off the cache line the parent reads.
constexpr uint64_t kProgressEvery = 256;

int open_fd_count() {
    DIR* d = ::opendir("/proc/self/fd");
    if (!d) return -1;
    int n = 0;
    while (::readdir(d)) ++n;
    ::closedir(d);
    return n - 3;  // ".", ".." and the directory's own descriptor
}

// How many sockets this process may still open, after raising its soft limit to the hard one.
uint64_t socket_budget() {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
        ::getrlimit(RLIMIT_NOFILE, &rl);
    }
    int used = open_fd_count();
    if (used < 0) return 0;
    if (rl.rlim_cur == RLIM_INFINITY) rl.rlim_cur = 1u << 20;
    int64_t left = int64_t(rl.rlim_cur) - used - kSpareFds;
    return left > 0 ? uint64_t(left) : 0;
}

worker_report open_connections(const worker_job& job) {
    worker_report r;
    double start = monotonic_seconds();
    uint64_t budget = socket_budget();
    uint64_t k = job.first;
    r.stop = worker_stop::limit;
    for (; k < job.limit; ++k) {
        if (r.opened == budget) {
            r.stop = worker_stop::full;
            break;
        }
        if (monotonic_seconds() > job.deadline) {
            r.stop = worker_stop::timeout;
            break;
        }
        int fd = -1;  // kept open until this process exits: that is the point
        if (int e = open_connection(job.technique, *job.ep, k, fd)) {
            r.stop = worker_stop::failure;
            r.error = e;
            break;
        }
        ++r.opened;
        if (k % kProgressEvery == 0) job.progress->store(k + 1, std::memory_order_relaxed);
    }
    job.progress->store(job.first + r.opened, std::memory_order_relaxed);
    r.seconds = monotonic_seconds() - start;
    return r;
}

bool write_all(int fd, const void* p, size_t n) {
    const char* c = static_cast<const char*>(p);
    while (n) {
        ssize_t w = ::write(fd, c, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        c += w;
        n -= size_t(w);
    }
    return true;
}

[[noreturn]] void worker_main(const worker_job& job, int report_fd, int release_fd,
                              pid_t parent) {
    // Never outlive the scenario: if it dies, so do we, and the sockets go with us.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);
    worker_report r = open_connections(job);
    bool ok = write_all(report_fd, &r, sizeof r);
    ::close(report_fd);
    // Hold the sockets until released: EOF once the scenario closes its end of the pipe.
    char c;
    while (ok && ::read(release_fd, &c, 1) < 0 && errno == EINTR) {
    }
    ::_exit(ok ? 0 : 1);
}

}  // namespace

double monotonic_seconds() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

int start_worker(const worker_job& job, int release_fd, int release_keep, worker& w) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) < 0) return errno;
    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) {
        int e = errno;
        ::close(p[0]);
        ::close(p[1]);
        return e;
    }
    if (pid == 0) {
        ::close(p[0]);
        ::close(release_keep);  // else the release never reads EOF
        worker_main(job, p[1], release_fd, parent);
    }
    ::close(p[1]);
    w.pid = pid;
    w.report_fd = p[0];
    return 0;
}

int read_report(worker& w, worker_report& out) {
    char* p = reinterpret_cast<char*>(&out);
    size_t got = 0;
    while (got < sizeof out) {
        ssize_t n = ::read(w.report_fd, p + got, sizeof out - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += size_t(n);
    }
    ::close(w.report_fd);
    w.report_fd = -1;
    return got == sizeof out ? 0 : ECHILD;
}

}  // namespace cxstress
