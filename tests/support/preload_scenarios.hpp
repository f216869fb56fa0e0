// preload_scenarios.hpp - the interposer's contract, checked from inside a process that runs
// under the drop-in. preload_test re-executes its own binary with LD_PRELOAD set and
// CXTEST_PRELOAD_SCENARIO=<name>; a static initializer in preload_scenarios.cpp then runs that
// scenario before GoogleTest starts and exits 0 (held) or 1 (the first failed check on stderr).
// Fixed ports outside the namespace's range (40000-40015); addresses from tests/support/netns.hpp.
#pragma once

#include <map>
#include <string>

#include "support/cli_run.hpp"

namespace cxtest {

// Runs scenario `name` in a copy of this binary under the drop-in, with `env` added.
cli_result run_preload_scenario(const std::string& name,
                                const std::map<std::string, std::string>& env = {});

}  // namespace cxtest
