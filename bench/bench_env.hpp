// bench_env.hpp - the little kernel plumbing the benchmarks need inside their private network
// namespace (a link up, a sysctl, the destination addresses the tests also use), taken from
// tools/common so that bench/ builds without the test suite.
#pragma once

#include <net/if.h>

#include <cerrno>
#include <connectx/connectx.hpp>
#include <cstdint>
#include <string>

#include "tools/common/kernel_file.hpp"
#include "tools/common/rtnl.hpp"

namespace cxbench {

// Brings interface `ifname` up: 0 or an errno.
inline int link_up(const char* ifname) {
    unsigned i = if_nametoindex(ifname);
    return i ? cxcommon::link_up(i) : ENODEV;
}

// Writes /proc/sys/`rel`: 0 or an errno.
inline int write_sysctl(const char* rel, const std::string& value) {
    std::string path = std::string("/proc/sys/") + rel;
    return cxcommon::write_file(path.c_str(), value.empty() ? "\n" : value);
}

// The i-th destination, 127.0.1.(i+1): on lo, as tests/support/netns.hpp's dst_v4.
inline cx::address dst_v4(int i, uint16_t port) {
    return cx::address::v4((127u << 24) | (1u << 8) | uint32_t(i + 1), port);
}

}  // namespace cxbench
