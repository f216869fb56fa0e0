// tcp_busy_keys.hpp - the process-wide set of TCP destinations some namespace found busy (past
// the kernel's first pass over its range: see tcp_fill.hpp). Every TCP call asks it, before any
// system call, whether to look further: empty, the answer is one relaxed load. A key here only
// says "ask the namespace" (which may know nothing of it: namespaces share the set), so a
// collision or a stale entry costs a lookup, never a wrong answer.
#pragma once

#include <cstdint>

#include "udp_port_hints.hpp"  // dest_key

namespace cx::detail {

// The key's hash (never 0: 0 marks an empty slot).
uint64_t tcp_busy_hash(const dest_key& key) noexcept;
bool tcp_busy_empty() noexcept;
bool tcp_busy_contains(uint64_t hash) noexcept;
// False when the set is full (kTcpBusyMax): the destination is then searched as always.
bool tcp_busy_add(uint64_t hash) noexcept;
void tcp_busy_remove(uint64_t hash) noexcept;

inline constexpr int kTcpBusyMax = 64;

}  // namespace cx::detail
