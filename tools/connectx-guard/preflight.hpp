// preflight.hpp - the checks connectx-guard makes on the cgroup and the pin directory before it
// calls the library, so that each error names the one object that is wrong. The library checks
// the same things again (guard.h) but can only return an errno, which does not say whether the
// cgroup or the pin directory was at fault.
#pragma once

#include <cstdint>
#include <string>

namespace cxguard {

// What the checks learnt about the cgroup.
struct cgroup_facts {
    uint64_t id = 0;    // the cgroup id (its inode number): the pins are named after it
    bool root = false;  // the root of its hierarchy
};

// The cgroup is an existing cgroup v2 directory. Returns "" or the message naming it.
std::string check_cgroup(const char* path, cgroup_facts& out);

// attach: DIR exists (created, mode 0700, when missing: `created` says so, so that a failed
// attach can remove it again) and is a directory; when it is not bpffs and `may_mount` is false,
// that is an error. (The library mounts bpffs on it otherwise.) Returns "" or the message naming
// DIR.
std::string prepare_pin_dir(const char* dir, bool may_mount, bool& created);

// detach, status: DIR is an existing directory on bpffs. Returns "" or the message naming DIR.
std::string check_pin_dir(const char* dir);

// The name of the guard's pin for one program ("connectx-guard-<id>-connect4"), as
// src/guard.cpp makes it.
std::string pin_name(uint64_t cgroup_id, const char* program);

}  // namespace cxguard
