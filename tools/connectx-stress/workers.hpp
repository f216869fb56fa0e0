// workers.hpp - the processes that hold a scenario's sockets. A process may have at most
// RLIMIT_NOFILE open files (20,000 here), so a scenario spreads its connections over workers
// started one after the other: each opens connections until it fails, reaches the limit, runs
// out of time or fills its file table, reports, then sits holding its sockets until released.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>

#include "stress.hpp"
#include "techniques.hpp"

namespace cxstress {

enum class worker_stop : uint8_t { failure, limit, timeout, full };

struct worker_report {
    uint64_t opened = 0;   // connections this worker opened and holds
    int error = 0;         // errno of the failure, for worker_stop::failure
    worker_stop stop = worker_stop::failure;
    double seconds = 0;    // time spent opening
};

struct worker_job {
    technique_id technique{};
    const endpoints* ep = nullptr;
    uint64_t first = 0;                      // number of the first connection to open
    uint64_t limit = 0;                      // open connections first .. limit-1 at most
    double deadline = 0;                     // monotonic_seconds() after which to stop
    std::atomic<uint64_t>* progress = nullptr;  // set to the next connection number as it goes
};

// Seconds on CLOCK_MONOTONIC.
double monotonic_seconds() noexcept;

// A started worker: its pid and the pipe its report arrives on.
struct worker {
    pid_t pid = -1;
    int report_fd = -1;
};

// Forks a worker for `job`. It holds its sockets until `release_fd` (the read end of a pipe the
// caller keeps the write end of, `release_keep`) reads EOF, and dies with its parent. Returns 0
// or an errno.
int start_worker(const worker_job& job, int release_fd, int release_keep, worker& w);

// Reads the worker's report and closes its pipe. Returns 0, or ECHILD when the worker died
// without reporting.
int read_report(worker& w, worker_report& out);

}  // namespace cxstress
