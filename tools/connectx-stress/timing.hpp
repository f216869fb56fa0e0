// timing.hpp - what a scenario records about time: the cost of each successful connect by the
// occupancy of the ports x destinations 4-tuples when it was made, and the connections open
// against time. Plain data, like scenario_result: it crosses fork() through a pipe and shared
// memory. The occupancy bands of the report (0-10, 10-50, 50-90, 99-100 %) are sums of bins.
#pragma once

#include <cstdint>
#include <span>

namespace cxstress {

inline constexpr int kOccupancyBins = 100;  // 1 % of the capacity each
inline constexpr int kTimeSamples = 200;    // points of the connections-against-time curve

struct timing {
    uint64_t bin_ns[kOccupancyBins] = {};      // summed cost of the connects made in the bin
    uint32_t bin_count[kOccupancyBins] = {};   // how many
    float sample_s[kTimeSamples + 2] = {};     // seconds since opening started
    uint64_t sample_n[kTimeSamples + 2] = {};  // connections open at that time
    uint32_t samples = 0;
};

// Fills a `timing` as the opener goes: connection k (0-based) brings the occupancy to
// (k + 1) / capacity; attempts past the capacity fall in no bin.
class timing_recorder {
public:
    timing_recorder(timing& t, uint64_t capacity, uint64_t limit) noexcept;
    // A successful connect that took `cost_s`; `opened` connections are open now, `elapsed_s`
    // after the start.
    void connected(uint64_t k, double cost_s, double elapsed_s, uint64_t opened) noexcept;
    // The last point of the curve.
    void finish(double elapsed_s, uint64_t opened) noexcept;

private:
    void sample(double elapsed_s, uint64_t opened) noexcept;
    timing& t_;
    uint64_t capacity_;
    uint64_t step_;      // connections between two samples
    uint64_t next_ = 0;  // the next sample is taken when this many are open
};

struct occupancy_band {
    int lo_bin, hi_bin;  // bins [lo, hi)
    const char* label;   // "0-10 %"
    const char* key;     // JSON and CSV: "0-10"
};

// 0-10, 10-50, 50-90 and 99-100 % of the capacity (the last 1 %, where a port search is
// hardest).
std::span<const occupancy_band> occupancy_bands() noexcept;

// Mean cost in microseconds of the successful connects made in bins [lo, hi); -1 when none.
double mean_cost_us(const timing& t, int lo_bin, int hi_bin) noexcept;

}  // namespace cxstress
