// kernel_file.hpp - writing one value to a kernel file (/proc/sys, uid_map, cgroup.procs), where
// the whole value must go in one write(2) for the kernel to take it.
#pragma once

#include <string>

namespace cxcommon {

// Returns 0, an errno, or EIO when the kernel took only part of the value.
int write_file(const char* path, const std::string& value);

}  // namespace cxcommon
