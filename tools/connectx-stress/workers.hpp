// workers.hpp - the processes of a scenario that open and hold its sockets. A process may have at
// most RLIMIT_NOFILE open files (20,000 here), far fewer than a scale run's sockets, so:
//   one opener process makes every connection, in order, with the technique under test: one
//     process, so the library's per-process state is the same as in one long-lived program;
//   holder processes, started by the opener as each fills up, receive the sockets over a Unix
//     socket (SCM_RIGHTS) and keep them open; the opener closes its copies.
// When done, the opener reports and waits to be released; then it and the holders exit, and the
// kernel closes every socket.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>

#include "stress.hpp"
#include "techniques.hpp"

namespace cxstress {

enum class open_stop : uint8_t { failure, limit, timeout, holder_failed };

struct opener_report {
    uint64_t opened = 0;  // connections open and held
    int error = 0;        // errno of the failed connection (failure) or of the hand-over
    open_stop stop = open_stop::failure;
    uint32_t holders = 0;  // holder processes started
    double seconds = 0;    // time spent opening (hand-over included)
    timing times;          // connect costs by occupancy, connections against time
};

struct open_job {
    technique_id technique{};
    const endpoints* ep = nullptr;
    uint64_t limit = 0;                         // open connections 0 .. limit-1 at most
    uint64_t capacity = 0;                      // ports x destinations: occupancy's 100 %
    double deadline = 0;                        // monotonic_seconds() after which to stop
    std::atomic<uint64_t>* progress = nullptr;  // connections opened so far
};

// Seconds on CLOCK_MONOTONIC.
double monotonic_seconds() noexcept;

// A started opener: its pid and the pipe its report arrives on.
struct opener {
    pid_t pid = -1;
    int report_fd = -1;
};

// Forks the opener for `job`. It and its holders keep the sockets until `release_fd` (the read
// end of a pipe whose write end, `release_keep`, only the caller keeps) reads EOF, and they die
// with the caller. Returns 0 or an errno.
int start_opener(const open_job& job, int release_fd, int release_keep, opener& o);

// Reads the opener's report and closes its pipe. Returns 0, or ECHILD when the opener died
// without reporting.
int read_report(opener& o, opener_report& out);

}  // namespace cxstress
