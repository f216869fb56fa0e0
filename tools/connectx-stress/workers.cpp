// workers.cpp - the opener and holder processes: open, hand over, hold, exit when released.
#include "workers.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace cxstress {
namespace {

// Descriptors a holder keeps free for itself.
constexpr int kSpareFds = 16;
// The holder's end of its channel, after it has closed everything else.
constexpr int kHolderChan = 3;
// Sockets handed over per message; the kernel takes at most SCM_MAX_FD (253) in one.
constexpr size_t kBatch = 200;
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

// How many more descriptors this process may open, after raising its soft limit to the hard one.
uint64_t fd_budget() {
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

// Calls `io` (::read or ::write) until all `n` bytes at `c` are moved; EINTR and short counts are
// retried. False on an error or EOF.
template <class Byte, class Io>
bool move_all(int fd, Byte* c, size_t n, Io io) {
    while (n) {
        ssize_t k = io(fd, c, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return false;
        c += k;
        n -= size_t(k);
    }
    return true;
}

bool write_all(int fd, const void* p, size_t n) {
    return move_all(fd, static_cast<const char*>(p), n, ::write);
}

bool read_all(int fd, void* p, size_t n) {
    return move_all(fd, static_cast<char*>(p), n, ::read);
}

// A message of the holders' channel: one byte of data (a message with descriptors must carry
// some) and room for kBatch descriptors. Not copyable: `msg` points into it.
struct fd_message {
    char byte = 0;
    iovec iov{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kBatch)];
    msghdr msg{};

    fd_message() {
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
    }
    fd_message(const fd_message&) = delete;
    fd_message& operator=(const fd_message&) = delete;
};

// Blocks until `fd` reads EOF (or fails).
void wait_for_eof(int fd) {
    char buf[64];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0 || (n < 0 && errno == EINTR)) continue;
        return;
    }
}

// Forks a child that never outlives this process: if it dies, so does the child (and, through
// the same rule, the child's own children). `chan` is a fresh pipe or socket pair: the child
// closes chan[0] and runs `child(chan[1])`, which does not return; this process closes chan[1],
// keeps chan[0] and gets the child's pid. Returns 0 or an errno (both ends closed on failure).
template <class Child>
int fork_child(const int chan[2], pid_t& pid, Child child) {
    pid_t parent = ::getpid();
    pid_t p = ::fork();
    if (p < 0) {
        int e = errno;
        ::close(chan[0]);
        ::close(chan[1]);
        return e;
    }
    if (p == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(1);  // the parent died before the line above
        ::close(chan[0]);
        child(chan[1]);
        ::_exit(1);
    }
    ::close(chan[1]);
    pid = p;
    return 0;
}

// ---- holder ----------------------------------------------------------------------------------

// Receives sockets on `chan` and keeps them until the opener closes its end. Tells the opener
// first how many it can take.
[[noreturn]] void holder_main(int chan) {
    uint64_t capacity = fd_budget();
    if (!write_all(chan, &capacity, sizeof capacity)) ::_exit(1);
    for (;;) {
        fd_message m;
        ssize_t n = ::recvmsg(chan, &m.msg, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) ::_exit(0);  // released (or the opener is gone): the sockets close with us
        // The descriptors now belong to this process; nothing more to do with them. A truncated
        // message would mean sockets lost: the opener sends no more than `capacity`.
        if (m.msg.msg_flags & MSG_CTRUNC) ::_exit(1);
    }
}

// ---- opener ----------------------------------------------------------------------------------

struct holder {
    pid_t pid = -1;
    int chan = -1;
    uint64_t room = 0;  // sockets it can still take
};

int start_holder(holder& h) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return errno;
    int e = fork_child(sv, h.pid, [](int chan) {
        // Keep only the channel. Inherited copies of other holders' channels would keep them
        // from ever reading EOF; the opener's and scenario's descriptors are no use here.
        if (::dup2(chan, kHolderChan) < 0) ::_exit(1);
        ::close_range(kHolderChan + 1, ~0u, 0);
        holder_main(kHolderChan);
    });
    if (e) return e;
    h.chan = sv[0];
    if (!read_all(h.chan, &h.room, sizeof h.room) || h.room == 0) return EMFILE;
    return 0;
}

// Sends `fds` to the holder and closes the opener's copies.
int hand_over(holder& h, std::vector<int>& fds) {
    if (fds.empty()) return 0;
    fd_message m;
    m.msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    auto* cm = reinterpret_cast<cmsghdr*>(m.control);  // CMSG_FIRSTHDR, never null here
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(cm), fds.data(), sizeof(int) * fds.size());
    ssize_t n;
    do n = ::sendmsg(h.chan, &m.msg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    int e = n < 0 ? errno : 0;
    for (int fd : fds) ::close(fd);
    if (e == 0) h.room -= fds.size();
    fds.clear();
    return e;
}

opener_report open_connections(const open_job& job, std::vector<holder>& holders) {
    opener_report r;
    double start = monotonic_seconds();
    std::vector<int> batch;  // opened, not yet handed over; never more than the holder's room
    batch.reserve(kBatch);
    auto fail = [&r](open_stop why, int e) {
        r.stop = why;
        r.error = e;
    };
    r.stop = open_stop::limit;
    timing_recorder rec(r.times, job.capacity, job.limit);
    for (uint64_t k = 0; k < job.limit; ++k) {
        if (holders.empty() || holders.back().room == batch.size()) {
            if (!holders.empty())
                if (int e = hand_over(holders.back(), batch)) {
                    fail(open_stop::holder_failed, e);
                    break;
                }
            holder h;
            int e = start_holder(h);
            if (h.pid > 0) holders.push_back(h);
            if (e) {
                fail(open_stop::holder_failed, e);
                break;
            }
        }
        if (monotonic_seconds() > job.deadline) {
            r.stop = open_stop::timeout;
            break;
        }
        int fd = -1;
        double before = monotonic_seconds();
        if (int e = open_connection(job.technique, *job.ep, k, fd)) {
            fail(open_stop::failure, e);
            break;
        }
        double after = monotonic_seconds();
        ++r.opened;
        rec.connected(k, after - before, after - start, r.opened);
        batch.push_back(fd);
        if (batch.size() == kBatch)
            if (int e = hand_over(holders.back(), batch)) {
                fail(open_stop::holder_failed, e);
                break;
            }
        if (k % kProgressEvery == 0) job.progress->store(k + 1, std::memory_order_relaxed);
    }
    if (!batch.empty() && !holders.empty())
        if (int e = hand_over(holders.back(), batch)) fail(open_stop::holder_failed, e);
    job.progress->store(r.opened, std::memory_order_relaxed);
    r.seconds = monotonic_seconds() - start;
    rec.finish(r.seconds, r.opened);
    r.holders = uint32_t(holders.size());
    return r;
}

[[noreturn]] void opener_main(const open_job& job, int report_fd, int release_fd) {
    std::vector<holder> holders;
    opener_report r = open_connections(job, holders);
    bool ok = write_all(report_fd, &r, sizeof r);
    ::close(report_fd);
    if (ok) wait_for_eof(release_fd);  // hold everything while the scenario checks
    for (holder& h : holders) {
        if (h.chan >= 0) ::close(h.chan);  // EOF: the holder exits, closing its sockets
        if (h.pid > 0)
            while (::waitpid(h.pid, nullptr, 0) < 0 && errno == EINTR) {
            }
    }
    ::_exit(ok ? 0 : 1);
}

}  // namespace

double monotonic_seconds() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

int start_opener(const open_job& job, int release_fd, int release_keep, opener& o) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) < 0) return errno;
    int e = fork_child(p, o.pid, [&](int report_fd) {
        ::close(release_keep);  // else the release never reads EOF
        opener_main(job, report_fd, release_fd);
    });
    if (e) return e;
    o.report_fd = p[0];
    return 0;
}

int read_report(opener& o, opener_report& out) {
    bool ok = read_all(o.report_fd, &out, sizeof out);
    ::close(o.report_fd);
    o.report_fd = -1;
    return ok ? 0 : ECHILD;
}

}  // namespace cxstress
