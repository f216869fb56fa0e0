// report.hpp - what connectx-stress prints: the header (first, before any scenario runs), the
// aligned table with its legend and notes, the cost-by-occupancy table, the JSON document
// (schema "connectx-stress/1", documented in connectx-stress(1) and docs/stress.md), the CSV
// rows, and the progress line.
#pragma once

#include <cstdint>
#include <cstdio>
#include <vector>

#include "stress.hpp"

namespace cxstress {

void print_header(std::FILE* out, const config& cfg);
// The table, the cost per connect by occupancy band, the legend and a note for every cell that
// does not explain itself.
void print_table(std::FILE* out, const config& cfg, const std::vector<scenario_result>& results);
void print_json(std::FILE* out, const config& cfg, const std::vector<scenario_result>& results);
void print_csv(std::FILE* out, const config& cfg, const std::vector<scenario_result>& results);

// One progress line on a terminal, redrawn in place; clear_progress() erases it.
struct progress_state {
    const char* label;  // the technique's name
    int index, count;   // technique `index` (1-based) of `count`
    scenario_phase phase;
    uint64_t done, total;  // connections opened, attempts allowed
    double elapsed_s;      // since the scenario started
    double opening_s;      // since opening started (the rate's time base); 0 before
    double timeout_s;      // --timeout
};
void draw_progress(std::FILE* out, const progress_state& p);
void clear_progress(std::FILE* out);

}  // namespace cxstress
