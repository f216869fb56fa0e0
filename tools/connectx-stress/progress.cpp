// progress.cpp - the progress line: which technique, what it is doing, how far, how fast, how
// long so far and how long at most to go.
#include <algorithm>
#include <string>

#include "format.hpp"
#include "report.hpp"

namespace cxstress {
namespace {

constexpr int kBarWidth = 24;

const char* phase_words(scenario_phase p) {
    switch (p) {
        case scenario_phase::setting_up:
            return "setting up namespace and servers";
        case scenario_phase::opening:
            return "";
        case scenario_phase::checking:
            return "checking 4-tuples (SOCK_DIAG dump)";
        case scenario_phase::closing:
            return "closing the sockets";
    }
    return "";
}

}  // namespace

void draw_progress(std::FILE* out, const progress_state& p) {
    if (p.total == 0) return;
    uint64_t done = std::min(p.done, p.total);
    auto filled = size_t(double(done) / double(p.total) * kBarWidth);
    std::string bar(filled, '#');
    bar.resize(kBarWidth, '.');
    std::string line = "[" + std::to_string(p.index) + "/" + std::to_string(p.count) + "] " +
                       p.label + " [" + bar + "] " +
                       std::to_string(int(double(done) * 100 / double(p.total))) + "% " +
                       grouped(done) + "/" + grouped(p.total);
    if (p.phase == scenario_phase::opening) {
        double rate = p.opening_s > 0 ? double(done) / p.opening_s : 0;
        line += "  " + grouped(uint64_t(rate)) + "/s";
        line += "  elapsed " + clock_time(p.elapsed_s);
        // At the current rate to the attempt limit, bounded by --timeout; a technique that
        // reaches its ceiling first ends sooner.
        double left = p.timeout_s - p.opening_s;
        if (rate > 0) left = std::min(left, double(p.total - done) / rate);
        line += "  ETA " + clock_time(left);
    } else {
        line += "  " + std::string(phase_words(p.phase)) + "  elapsed " + clock_time(p.elapsed_s);
    }
    std::fprintf(out, "\r\033[K%s", line.c_str());
    std::fflush(out);
}

void clear_progress(std::FILE* out) {
    std::fprintf(out, "\r\033[K");
    std::fflush(out);
}

}  // namespace cxstress
