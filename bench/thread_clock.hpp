// thread_clock.hpp - CPU time of the calling thread, for benchmarks that time parts of an
// iteration themselves.
#pragma once

#include <cstdint>
#include <ctime>

// User + system CPU time of this thread in ns: per-call samples that other processes' load on the
// machine does not inflate, unlike wall-clock ones.
inline uint64_t thread_cpu_ns() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}
