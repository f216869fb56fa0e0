// counters.hpp - the library's per-process counters (connectx_counters_read(3)): relaxed atomics,
// one increment per call and per pool move, so they cost nothing a benchmark could see.
#pragma once

#include <connectx/connectx.h>

#include <cstdint>

namespace cx::detail {

// One finished connectx() call: its protocol (0 when validation failed before knowing it),
// whether a port range made TCP ask the sysctls, its errno (0 = success) and its result.
void count_call(int protocol, bool tcp_range, int e, const connectx_result& res) noexcept;
// One pool attempt that ended in exhaustion (`e`: EAGAIN or EADDRNOTAVAIL) and moved on.
void count_exhausted(int protocol, int e) noexcept;
void count_pool_move() noexcept;

}  // namespace cx::detail
