// cgroup.hpp - finding the cgroup v2 hierarchy and this process's place in it, and moving this
// process into another cgroup: what the stress tool's guarded row and the guard benchmark need to
// run inside a cgroup of their own.
#pragma once

#include <string>

namespace cxcommon {

// Mount point of the cgroup v2 hierarchy, from /proc/self/mountinfo; "" if there is none. On a
// hybrid layout it is not /sys/fs/cgroup but e.g. /sys/fs/cgroup/unified.
std::string cgroup2_mount();

// The directory of this process's cgroup under `mount` (from /proc/self/cgroup's "0::/path"
// line); "" if `mount` is empty or the process has no cgroup v2 entry.
std::string own_cgroup_dir(const std::string& mount);

// Moves the calling process into the cgroup at `dir`. Returns 0 or an errno.
int join_cgroup(const std::string& dir);

}  // namespace cxcommon
