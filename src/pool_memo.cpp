// pool_memo.cpp - a fixed table of relaxed atomics, one slot per key hash: no lock, no
// allocation. Key and time are two atomics; a race between two writers may pair one's key with
// the other's time, which only reorders attempts (pool_memo.hpp).
#include "pool_memo.hpp"

#include <time.h>

#include <atomic>

#include "request.hpp"

namespace cx::detail {
namespace {

constexpr size_t kSlots = 1024;

struct slot {
    std::atomic<uint64_t> key{0};
    std::atomic<uint64_t> until_ms{0};
};

slot g_slots[kSlots];

// FNV-1a.
void mix(uint64_t& h, const uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
}

slot& slot_of(uint64_t key) {
    return g_slots[key % kSlots];
}

}  // namespace

uint64_t pool_memo_key(int protocol, const address& src, const address& dst) noexcept {
    uint64_t h = 0xcbf29ce484222325ull;
    const uint8_t head[2] = {uint8_t(protocol), uint8_t(dst.family())};
    mix(h, head, sizeof head);
    const size_t len = dst.family() == AF_INET ? 4 : 16;
    mix(h, ip_bytes(src, false), len);
    mix(h, ip_bytes(dst, false), len);
    const uint16_t port = dst.port();
    const uint32_t scope = dst.scope_id();
    mix(h, reinterpret_cast<const uint8_t*>(&port), sizeof port);
    mix(h, reinterpret_cast<const uint8_t*>(&scope), sizeof scope);
    return h ? h : 1;
}

bool pool_memo_recent(uint64_t key, uint64_t now_ms) noexcept {
    const slot& s = slot_of(key);
    return s.key.load(std::memory_order_relaxed) == key &&
           now_ms < s.until_ms.load(std::memory_order_relaxed);
}

void pool_memo_mark(uint64_t key, uint64_t now_ms) noexcept {
    slot& s = slot_of(key);
    s.key.store(key, std::memory_order_relaxed);
    s.until_ms.store(now_ms + kPoolMemoMs, std::memory_order_relaxed);
}

void pool_memo_forget(uint64_t key) noexcept {
    slot& s = slot_of(key);
    if (s.key.load(std::memory_order_relaxed) == key)
        s.until_ms.store(0, std::memory_order_relaxed);
}

uint64_t pool_memo_now_ms() noexcept {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1000000;
}

}  // namespace cx::detail
