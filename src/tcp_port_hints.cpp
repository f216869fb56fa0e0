// tcp_port_hints.cpp - the per-destination bitmaps of taken ports and their cursors.
#include "tcp_port_hints.hpp"

#include <bit>
#include <cerrno>
#include <new>

namespace cx::detail {

struct tcp_port_hints::dest {
    dest_key key;
    port_span span;
    port_bitmap taken;
    uint16_t cursor = 0;
    uint64_t dumped_ms = 0;
    uint64_t last_use = 0;
};

uint16_t port_bitmap::next_clear(port_span span, uint16_t from) const noexcept {
    if (span.size() == 0) return 0;
    if (!span.contains(from)) from = span.lo;
    // Word by word from `from` to hi, then from lo up to `from`.
    auto scan = [&](uint32_t lo, uint32_t hi) -> uint16_t {  // inclusive, lo <= hi
        for (uint32_t p = lo; p <= hi;) {
            uint64_t free = ~bits[p >> 6] >> (p & 63);
            if (free) {
                uint32_t at = p + uint32_t(std::countr_zero(free));
                return at <= hi ? uint16_t(at) : 0;
            }
            p = (p | 63) + 1;
        }
        return 0;
    };
    if (uint16_t p = scan(from, span.hi)) return p;
    return from > span.lo ? scan(span.lo, uint32_t(from) - 1) : 0;
}

uint32_t port_bitmap::count(port_span span) const noexcept {
    uint32_t n = 0;
    for (uint32_t p = span.lo; p <= span.hi; ++p) n += test(uint16_t(p));
    return n;
}

tcp_port_hints::tcp_port_hints() noexcept = default;
tcp_port_hints::~tcp_port_hints() = default;

tcp_port_hints::dest* tcp_port_hints::find(const dest_key& key) noexcept {
    for (auto& s : slots_) {
        if (s && s->key == key) {
            s->last_use = ++tick_;
            return s.get();
        }
    }
    return nullptr;
}

hint_pick tcp_port_hints::pick(const dest_key& key, uint64_t now_ms, uint16_t& port) noexcept {
    port = 0;
    std::lock_guard lock(mu_);
    dest* d = find(key);
    if (!d) return hint_pick::not_busy;
    const uint64_t age = now_ms - d->dumped_ms;
    if (age >= kRefreshMs) return hint_pick::refresh_due;
    uint16_t p = d->taken.next_clear(d->span, d->cursor);
    if (p == 0) return age >= kMinDumpMs ? hint_pick::refresh_due : hint_pick::exhausted;
    d->taken.set(p);
    d->cursor = p == d->span.hi ? d->span.lo : uint16_t(p + 1);
    port = p;
    return hint_pick::port;
}

void tcp_port_hints::mark_taken(const dest_key& key, uint16_t port) noexcept {
    std::lock_guard lock(mu_);
    if (dest* d = find(key)) d->taken.set(port);
}

int tcp_port_hints::install(const dest_key& key, port_span span, const port_bitmap& taken,
                            uint64_t now_ms) noexcept {
    std::lock_guard lock(mu_);
    dest* d = find(key);
    if (!d) {
        // A free slot, else the least recently used one.
        std::unique_ptr<dest>* victim = &slots_[0];
        for (auto& s : slots_) {
            if (!s) {
                victim = &s;
                break;
            }
            if (s->last_use < (*victim)->last_use) victim = &s;
        }
        if (!*victim) {
            victim->reset(new (std::nothrow) dest);
            if (!*victim) return ENOMEM;
        }
        d = victim->get();
        d->key = key;
        d->last_use = ++tick_;
    }
    d->span = span;
    d->taken = taken;
    d->cursor = uint16_t(span.lo + random_below(span.size()));
    d->dumped_ms = now_ms;
    return 0;
}

void tcp_port_hints::forget(const dest_key& key) noexcept {
    std::lock_guard lock(mu_);
    for (auto& s : slots_)
        if (s && s->key == key) s.reset();
}

size_t tcp_port_hints::destinations() const noexcept {
    std::lock_guard lock(mu_);
    size_t n = 0;
    for (const auto& s : slots_) n += s != nullptr;
    return n;
}

}  // namespace cx::detail
