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
    std::vector<cx::address> pool;          // --sources N > 1: the connectx rows' source pool
    std::vector<cx::address> destinations;  // port kServerPort
    uint16_t port_lo = 0;
    uint16_t port_hi = 0;
    uint64_t share = 0;  // 0: round-robin; else sequential, `share` connections per destination

    // Connection k goes to destination `index`, as its `nth` connection there (0-based).
    struct placement {
        size_t index;
        uint64_t nth;
    };
    placement place(uint64_t k) const noexcept {
        uint64_t d = destinations.size();
        if (share == 0) return {size_t(k % d), k / d};
        uint64_t i = k / share < d ? k / share : d - 1;
        return {size_t(i), k - i * share};
    }
};

// Opens connection number `k` (0-based) with technique `t`, to the destination ep.place(k) says.
// Returns 0 and the connected socket in `fd`, or the errno
// of the step that failed (the socket is closed then).
int open_connection(technique_id t, const endpoints& ep, uint64_t k, int& fd) noexcept;

}  // namespace cxstress
