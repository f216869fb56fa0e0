// pool_memo.hpp - which pool entries were found exhausted toward a destination lately, so that
// the next calls try them last for a moment instead of paying a whole EAGAIN search (every usable
// port looked at) on each. Lossy on purpose: a collision, or an entry forgotten, only changes the
// order of the attempts; every entry is still tried before a call fails.
#pragma once

#include <connectx/connectx.hpp>
#include <cstdint>

namespace cx::detail {

// How long an exhausted entry is tried last: ports free up as flows close, and then it is tried
// in its turn again.
inline constexpr uint64_t kPoolMemoMs = 100;

// The memo's key for (protocol, source, destination): a hash, 0 never.
uint64_t pool_memo_key(int protocol, const address& src, const address& dst) noexcept;
// Whether `key` was found exhausted less than kPoolMemoMs before `now_ms`.
bool pool_memo_recent(uint64_t key, uint64_t now_ms) noexcept;
void pool_memo_mark(uint64_t key, uint64_t now_ms) noexcept;
void pool_memo_forget(uint64_t key) noexcept;
// CLOCK_MONOTONIC_COARSE in milliseconds.
uint64_t pool_memo_now_ms() noexcept;

}  // namespace cx::detail
