// format.hpp - the words and numbers every output of connectx-stress shares (table, CSV, JSON,
// plot): names of errnos and stop reasons, derived rates, number formatting.
#pragma once

#include <cstdint>
#include <string>

#include "stress.hpp"

namespace cxstress {

// "EADDRNOTAVAIL" for 99; "E<number>" for an errno without a name.
const char* errno_name(int e, char (&buf)[16]) noexcept;

// The "errno at exhaustion" cell: the errno's name, "none (limit)", "none (timeout)", ...
std::string outcome_cell(const scenario_result& r);

// Whether the row has counts at all (not for a technique that was not built or not set up).
bool has_counts(const scenario_result& r) noexcept;

double per_second(const scenario_result& r) noexcept;
double bytes_per_connection(const scenario_result& r) noexcept;

// 1234567 -> "1,234,567"
std::string grouped(uint64_t n);
// printf("%.*f")
std::string fixed(double v, int decimals);
// A cost in microseconds with 3 significant digits ("1.23", "45.6", "789"); "-" when v < 0.
std::string cost_cell(double us);
// "1:05" (minutes:seconds) or "1:02:03".
std::string clock_time(double seconds);

// The running kernel's release, from uname(2).
std::string kernel_release();

const char* fill_name(fill_order f) noexcept;

}  // namespace cxstress
