// tcp_busy_keys.cpp - a fixed array of hashes, lock-free: calls read it, the rare engagements and
// releases write it.
#include "tcp_busy_keys.hpp"

#include <atomic>
#include <cstddef>

namespace cx::detail {
namespace {

std::atomic<uint64_t> g_slots[kTcpBusyMax];
std::atomic<int> g_count{0};

}  // namespace

uint64_t tcp_busy_hash(const dest_key& key) noexcept {
    // FNV-1a over the key's bytes (zero-initialised, packed without holes).
    uint64_t h = 1469598103934665603ull;
    auto* p = reinterpret_cast<const unsigned char*>(&key);
    for (size_t i = 0; i < sizeof key; ++i) h = (h ^ p[i]) * 1099511628211ull;
    return h ? h : 1;
}

bool tcp_busy_empty() noexcept {
    return g_count.load(std::memory_order_relaxed) == 0;
}

bool tcp_busy_contains(uint64_t hash) noexcept {
    if (tcp_busy_empty()) return false;
    for (auto& s : g_slots)
        if (s.load(std::memory_order_relaxed) == hash) return true;
    return false;
}

bool tcp_busy_add(uint64_t hash) noexcept {
    if (tcp_busy_contains(hash)) return true;
    for (auto& s : g_slots) {
        uint64_t empty = 0;
        if (s.compare_exchange_strong(empty, hash, std::memory_order_relaxed)) {
            g_count.fetch_add(1, std::memory_order_relaxed);
            return true;
        }
    }
    return false;
}

void tcp_busy_remove(uint64_t hash) noexcept {
    for (auto& s : g_slots) {
        uint64_t was = hash;
        if (s.compare_exchange_strong(was, 0, std::memory_order_relaxed))
            g_count.fetch_sub(1, std::memory_order_relaxed);
    }
}

}  // namespace cx::detail
