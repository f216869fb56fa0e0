// io.cpp - deadlines, waiting, complete writes and the stderr trace.
#include "io.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <string>

namespace cxcli {

deadline deadline::after(double seconds) {
    deadline d;
    if (!(seconds > 0)) return d;
    d.never_ = false;
    d.at_ = clock::now() +
            std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(seconds));
    return d;
}

deadline deadline::earliest(const deadline& a, const deadline& b) {
    if (a.never_) return b;
    if (b.never_) return a;
    return a.at_ <= b.at_ ? a : b;
}

bool deadline::expired() const {
    return !never_ && clock::now() >= at_;
}

int deadline::poll_ms() const {
    if (never_) return -1;
    auto left = at_ - clock::now();
    if (left <= clock::duration::zero()) return 0;
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
    return ms > 1'000'000'000 ? 1'000'000'000 : int(ms);
}

double seconds_since(clock::time_point t0) {
    return std::chrono::duration<double>(clock::now() - t0).count();
}

int wait_fd(int fd, short events, const deadline& until) {
    for (;;) {
        pollfd p{fd, events, 0};
        int n = ::poll(&p, 1, until.poll_ms());
        if (n > 0) return p.revents;
        if (n == 0) return 0;
        if (errno != EINTR) return -errno;
    }
}

int write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        data.remove_prefix(size_t(n));
    }
    return 0;
}

int read_file(const char* path, std::string& out) {
    bool is_stdin = std::string_view(path) == "-";
    int fd = is_stdin ? STDIN_FILENO : ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    unique_fd owner(is_stdin ? -1 : fd);
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n == 0) return 0;
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        out.append(buf, size_t(n));
    }
}

void trace_line(std::string_view prefix, std::string_view text) {
    std::string line;
    line.reserve(prefix.size() + text.size() + 1);
    line.append(prefix).append(text).push_back('\n');
    write_all(STDERR_FILENO, line);  // nothing useful to do if stderr is gone
}

}  // namespace cxcli
