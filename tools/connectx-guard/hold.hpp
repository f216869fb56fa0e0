// hold.hpp - a foreground attach: hold the guard until a signal, or until someone else detaches
// it (connectx-guard detach, bpftool), and say which it was.
#pragma once

#include <cstdint>

namespace cxguard {

enum class hold_end { signal, detached_by_other, status_failed };

struct hold_outcome {
    hold_end end = hold_end::signal;
    int signal = 0;  // hold_end::signal: SIGINT, SIGTERM or SIGHUP
    int error = 0;   // hold_end::status_failed: the errno of connectx_guard_status()
};

// Blocks SIGINT, SIGTERM and SIGHUP. Called before the attach: a signal that comes while the
// guard is being attached, or just after "attached" is printed, then waits for hold() instead
// of killing the process with the guard half made or unannounced.
void block_hold_signals();

// Waits for SIGINT, SIGTERM or SIGHUP (blocked by block_hold_signals()); every second, checks
// that the programs `prog_id4` and `prog_id6` are still the guard attached to `cgroup`.
hold_outcome hold(const char* cgroup, uint32_t prog_id4, uint32_t prog_id6);

}  // namespace cxguard
