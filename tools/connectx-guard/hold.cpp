// hold.cpp - wait for a signal while watching that the held guard is still attached. A BPF link
// gives no notice when another process detaches it (BPF_LINK_DETACH leaves the holder a defunct
// link), so the cgroup is asked once a second.
#include "hold.hpp"

#include <connectx/guard.h>
#include <signal.h>

#include <cerrno>
#include <ctime>

namespace cxguard {
namespace {

constexpr time_t kCheckEveryS = 1;

sigset_t hold_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    return set;
}

}  // namespace

void block_hold_signals() {
    sigset_t set = hold_signals();
    sigprocmask(SIG_BLOCK, &set, nullptr);
}

hold_outcome hold(const char* cgroup, uint32_t prog_id4, uint32_t prog_id6) {
    sigset_t set = hold_signals();
    hold_outcome out;
    for (;;) {
        timespec every{kCheckEveryS, 0};
        int sig = sigtimedwait(&set, nullptr, &every);
        if (sig > 0) {
            out.signal = sig;
            return out;
        }
        if (errno == EINTR) continue;
        connectx_guard_info s{};
        s.size = sizeof s;
        if (connectx_guard_status(cgroup, nullptr, &s) < 0) {
            out.end = hold_end::status_failed;
            out.error = errno;
            return out;
        }
        // Another guard attached meanwhile (after a detach) has other program ids: not ours.
        if (s.prog_id4 != prog_id4 || s.prog_id6 != prog_id6) {
            out.end = hold_end::detached_by_other;
            return out;
        }
    }
}

}  // namespace cxguard
