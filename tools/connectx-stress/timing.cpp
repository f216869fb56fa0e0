// timing.cpp - recording connect costs by occupancy and the connections-against-time curve.
#include "timing.hpp"

namespace cxstress {
namespace {

constexpr occupancy_band kBands[] = {
    {0, 10, "0-10 %", "0-10"},
    {10, 50, "10-50 %", "10-50"},
    {50, 90, "50-90 %", "50-90"},
    {99, 100, "99-100 %", "99-100"},
};

}  // namespace

timing_recorder::timing_recorder(timing& t, uint64_t capacity, uint64_t limit) noexcept
    : t_(t),
      capacity_(capacity ? capacity : 1),
      step_(limit > kTimeSamples ? (limit + kTimeSamples - 1) / kTimeSamples : 1) {
    t_ = timing{};
    sample(0, 0);
    next_ = step_;
}

void timing_recorder::connected(uint64_t k, double cost_s, double elapsed_s,
                                uint64_t opened) noexcept {
    if (k < capacity_) {
        // The occupancy this connect brings about, (k + 1) / capacity, rounded up to a bin: the
        // connect that fills the last 4-tuple is in the 99-100 % bin at any capacity.
        auto bin = static_cast<int>(((k + 1) * kOccupancyBins + capacity_ - 1) / capacity_) - 1;
        t_.bin_ns[bin] += static_cast<uint64_t>(cost_s * 1e9);
        ++t_.bin_count[bin];
    }
    if (opened >= next_) {
        sample(elapsed_s, opened);
        next_ += step_;
    }
}

void timing_recorder::finish(double elapsed_s, uint64_t opened) noexcept {
    if (t_.samples == kTimeSamples + 2) --t_.samples;  // the end replaces the last sample
    sample(elapsed_s, opened);
}

void timing_recorder::sample(double elapsed_s, uint64_t opened) noexcept {
    if (t_.samples >= kTimeSamples + 2) return;
    t_.sample_s[t_.samples] = static_cast<float>(elapsed_s);
    t_.sample_n[t_.samples] = opened;
    ++t_.samples;
}

std::span<const occupancy_band> occupancy_bands() noexcept {
    return kBands;
}

double mean_cost_us(const timing& t, int lo_bin, int hi_bin) noexcept {
    uint64_t ns = 0, n = 0;
    for (int b = lo_bin; b < hi_bin && b < kOccupancyBins; ++b) {
        ns += t.bin_ns[b];
        n += t.bin_count[b];
    }
    return n ? double(ns) / double(n) / 1000.0 : -1;
}

}  // namespace cxstress
