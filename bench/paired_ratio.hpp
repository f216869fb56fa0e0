// paired_ratio.hpp - the cost of one call against another's, measured paired. Separate
// benchmarks minutes apart drift by several percent on a shared machine (frequency, the other
// core's load, caches); here blocks of kBlock calls of each side alternate A B B A inside one
// benchmark, each block timed by this thread's CPU clock, so drift lands on both sides alike.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "thread_clock.hpp"

// `plain` and `other`: one call each, false (errno set) if it failed. Counters: CPU ns per call of
// each side, their ratio over the whole run, and the median of the per-pair ratios.
template <class Plain, class Other>
void run_paired_ratio(benchmark::State& state, Plain plain, Other other) {
    constexpr int kBlock = 16;
    // One block of `call`, timed into `sum`; false if a call failed.
    auto timed = [](auto& call, uint64_t& sum) {
        uint64_t t0 = thread_cpu_ns();
        for (int i = 0; i < kBlock; ++i)
            if (!call()) return false;
        sum += thread_cpu_ns() - t0;
        return true;
    };
    uint64_t plain_sum = 0, other_sum = 0;
    std::vector<double> pair_ratios;
    for (auto _ : state) {
        uint64_t p = 0, o = 0;
        bool ok = timed(plain, p) && timed(other, o) && timed(other, o) && timed(plain, p);
        if (!ok) {
            state.SkipWithError(strerror(errno));
            return;
        }
        plain_sum += p;
        other_sum += o;
        pair_ratios.push_back(double(o) / double(p));
    }
    std::sort(pair_ratios.begin(), pair_ratios.end());
    const double calls = double(state.iterations()) * 2 * kBlock;
    state.counters["plain_ns"] = double(plain_sum) / calls;
    state.counters["other_ns"] = double(other_sum) / calls;
    state.counters["ratio"] = double(other_sum) / double(plain_sum);
    state.counters["ratio_median"] = pair_ratios[pair_ratios.size() / 2];
}
