// udp_connect.cpp - UDP path: not implemented yet (the UDP issue).
#include <cerrno>

#include "request.hpp"

namespace cx::detail {
int udp_connect(const request&, connectx_result&) noexcept { return EPROTONOSUPPORT; }
}  // namespace cx::detail
