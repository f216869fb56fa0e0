// report.hpp - what connectx-stress prints: the aligned table, the JSON document (schema
// "connectx-stress/1", documented in connectx-stress(1) and docs/stress.md), the progress bar.
#pragma once

#include <cstdint>
#include <cstdio>
#include <vector>

#include "stress.hpp"

namespace cxstress {

void print_table(std::FILE* out, const config& cfg, const std::vector<scenario_result>& results);
void print_json(std::FILE* out, const config& cfg, const std::vector<scenario_result>& results);

// Draws (or redraws, in place) one progress line on a terminal; clear_progress() erases it.
void draw_progress(std::FILE* out, const char* label, uint64_t done, uint64_t total);
void clear_progress(std::FILE* out);

// "EADDRNOTAVAIL" for 99; "E<number>" for an errno without a name.
const char* errno_name(int e, char (&buf)[16]) noexcept;

}  // namespace cxstress
