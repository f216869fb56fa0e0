// udp_port_search.hpp - the UDP source port search (src IP known, port 0): see udp_port_search.cpp.
#pragma once

#include "udp_call.hpp"

namespace cx::detail {

// Finds a source port free toward the call's destination, binds, locks, checks and connects.
// 0, EAGAIN when no port of the usable range is free toward dst (every one was looked at during
// the call), or an errno as connectx(3) documents. On failure the socket is unbound again (its
// port given back) except before 6.3, where a port once bound stays (see connectx.h).
[[nodiscard]] int udp_port_search(udp_call& c);

}  // namespace cx::detail
