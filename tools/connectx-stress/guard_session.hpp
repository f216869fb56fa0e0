// guard_session.hpp - the BPF guard around one scenario: a cgroup made for the purpose, the
// scenario's process moved into it (its workers are born there), the guard attached to it; all
// undone on destruction. Never touches a cgroup it did not create.
#pragma once

#include <sys/types.h>

#include <string>

struct connectx_guard;

namespace cxstress {

class guard_session {
public:
    guard_session() = default;
    guard_session(const guard_session&) = delete;
    guard_session& operator=(const guard_session&) = delete;
    // Detaches the guard, moves the process back to its cgroup and removes the one it made.
    // Every process of the scenario other than this one must have exited by then.
    ~guard_session();

    // Returns 0; ENOSYS when the library was built without the guard; else an errno and what
    // failed in `what`.
    int start(std::string& what);

private:
    std::string cgroup_;    // the cgroup made for the scenario, "" if none
    std::string original_;  // the cgroup this process came from
    connectx_guard* guard_ = nullptr;
};

// Removes the cgroup a guarded scenario run by process `pid` made, if that process died before
// removing it. Harmless when there is none.
void remove_leftover_guard_cgroup(pid_t pid);

}  // namespace cxstress
