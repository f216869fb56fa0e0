// techniques.hpp - the ways of opening one outgoing connection that connectx-stress compares.
#pragma once

#include <connectx/connectx.hpp>

#include <cstdint>
#include <vector>

#include "stress.hpp"

namespace cxstress {

// Where connections go: one source IP, `destinations` addresses, the namespace's port range.
struct endpoints {
    cx::address source;                     // port 0
    std::vector<cx::address> destinations;  // port kServerPort
    uint16_t port_lo = 0;
    uint16_t port_hi = 0;
};

// Opens connection number `k` (0-based) with technique `t`. Connection k goes to destination
// k % D, so every destination fills at the same pace and the first failure comes when the
// technique's real ceiling is reached. Returns 0 and the connected socket in `fd`, or the errno
// of the step that failed (the socket is closed then).
int open_connection(technique_id t, const endpoints& ep, uint64_t k, int& fd) noexcept;

}  // namespace cxstress
