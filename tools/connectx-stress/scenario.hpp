// scenario.hpp - one technique's run, from a clean slate: its own network namespace (TCP bind
// buckets and TIME_WAIT sockets of another run would skew it), servers, workers holding the
// connections, the SOCK_DIAG duplicate check, memory and time, then everything torn down.
#pragma once

#include "stress.hpp"

namespace cxstress {

// Runs technique `t` in the calling process, which must be a child made for it: the process
// moves into a new network namespace. Writes the outcome to `out`, and `progress` and `phase`
// as it goes.
void run_scenario(const config& cfg, technique_id t, std::atomic<uint64_t>& progress,
                  std::atomic<scenario_phase>& phase, scenario_result& out);

}  // namespace cxstress
