// io.hpp - the small I/O vocabulary the client is written in: an owned file descriptor, a
// monotonic deadline, waiting on one descriptor, complete writes, and the stderr trace.
#pragma once

#include <chrono>
#include <cstddef>
#include <string_view>

#include "sys.hpp"

namespace cxcli {

// The library's own owning descriptor (src/sys.hpp, header-only): one definition for both.
using unique_fd = cx::detail::unique_fd;

using clock = std::chrono::steady_clock;

// A point in time after which an operation gives up; "never" when no limit was asked for.
class deadline {
public:
    static deadline never() { return deadline{}; }
    static deadline after(double seconds);  // seconds <= 0 means never
    static deadline earliest(const deadline& a, const deadline& b);

    bool is_never() const noexcept { return never_; }
    bool sooner_than(const deadline& o) const noexcept {
        return !never_ && (o.never_ || at_ < o.at_);
    }
    bool expired() const;
    // Milliseconds left for poll(2): -1 for never, 0 once expired, rounded up otherwise.
    int poll_ms() const;

private:
    bool never_ = true;
    clock::time_point at_{};
};

double seconds_since(clock::time_point t0);

// poll(2) on one descriptor until `events` or the deadline. Returns the revents (0 on timeout), or
// -errno. EINTR is retried.
int wait_fd(int fd, short events, const deadline& until);

// Writes all of `data` to a blocking descriptor. Returns 0 or an errno.
int write_all(int fd, std::string_view data);

// Appends the whole content of a file (or of stdin for "-") to `out`. Returns 0 or an errno.
int read_file(const char* path, std::string& out);

// The -v / error channel: one line to stderr, nothing else interleaved.
void trace_line(std::string_view prefix, std::string_view text);

}  // namespace cxcli
