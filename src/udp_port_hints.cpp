// udp_port_hints.cpp - the per-destination walk, the probed-free ports and the blocked marks.
#include "udp_port_hints.hpp"

#include <cstring>
#include <ctime>
#include <new>


namespace cx::detail {

struct udp_port_hints::dest {
    dest_key key;
    port_span span;             // the span the walk covers; a new span starts a new walk
    uint32_t start = 0;         // offset of the walk's first port in the span
    uint32_t walked = 0;        // ports the walk has handed out this round (== size: over)
    uint32_t probe_at = 0;      // offset of the next port to probe
    uint16_t free[kFreeKept] = {};
    uint8_t nfree = 0;
    uint32_t chain = UINT32_MAX;  // next in the hash bucket
    uint32_t prev = UINT32_MAX, next = UINT32_MAX;  // LRU list
    bool used = false;
};

struct udp_port_hints::source {
    dest_key key;  // src, family and ifindex only
    uint64_t cleared_at = 0;
    uint64_t last_use = 0;
    bool used = false;
    uint64_t bits[1024] = {};
};

namespace {

constexpr uint32_t kNone = UINT32_MAX;

uint64_t now_ms() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1000000;
}

uint64_t hash_of(const dest_key& k) {
    // FNV-1a over the key's bytes: keys are small and written field by field (no padding bytes
    // differ: the struct is zero-initialised and its fields packed without holes).
    uint64_t h = 1469598103934665603ull;
    auto* p = reinterpret_cast<const unsigned char*>(&k);
    for (size_t i = 0; i < sizeof k; ++i) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

uint16_t port_at(port_span span, uint32_t offset) {
    return uint16_t(span.lo + offset % span.size());
}

}  // namespace

udp_port_hints::udp_port_hints() noexcept = default;
udp_port_hints::~udp_port_hints() = default;

void udp_port_hints::unlink(uint32_t i) noexcept {
    dest& d = dests_[i];
    if (d.prev != kNone) dests_[d.prev].next = d.next;
    else lru_head_ = d.next;
    if (d.next != kNone) dests_[d.next].prev = d.prev;
    else lru_tail_ = d.prev;
    d.prev = d.next = kNone;
}

void udp_port_hints::touch(uint32_t i) noexcept {
    if (lru_head_ == i) return;
    if (dests_[i].prev != kNone) unlink(i);  // in the list (not its head): take it out first
    dest& d = dests_[i];
    d.next = lru_head_;
    if (lru_head_ != kNone) dests_[lru_head_].prev = i;
    lru_head_ = i;
    if (lru_tail_ == kNone) lru_tail_ = i;
}

udp_port_hints::dest* udp_port_hints::find(const dest_key& key, bool create) noexcept {
    if (buckets_.empty()) {
        if (!create) return nullptr;
        try {
            buckets_.assign(kMaxDestinations, kNone);
            dests_.reserve(64);
        } catch (const std::bad_alloc&) {
            buckets_.clear();
            return nullptr;
        }
    }
    uint32_t& head = buckets_[hash_of(key) & (kMaxDestinations - 1)];
    for (uint32_t i = head; i != kNone; i = dests_[i].chain) {
        if (dests_[i].key == key) {
            touch(i);
            return &dests_[i];
        }
    }
    if (!create) return nullptr;
    uint32_t i;
    if (dests_.size() < kMaxDestinations) {
        try {
            dests_.emplace_back();
        } catch (const std::bad_alloc&) {
            return nullptr;
        }
        i = uint32_t(dests_.size() - 1);
    } else {
        // Forget the least recently used destination: out of its bucket's chain, then reuse.
        i = lru_tail_;
        unlink(i);
        uint32_t* link = &buckets_[hash_of(dests_[i].key) & (kMaxDestinations - 1)];
        while (*link != i) link = &dests_[*link].chain;
        *link = dests_[i].chain;
        dests_[i] = dest{};
    }
    dest& d = dests_[i];
    d.key = key;
    d.used = true;
    d.chain = head;
    head = i;
    touch(i);
    return &d;
}

udp_port_hints::source* udp_port_hints::source_of(const dest_key& key) noexcept {
    if (!sources_) {
        sources_.reset(new (std::nothrow) source[kSources]);
        if (!sources_) return nullptr;
    }
    dest_key k;
    std::memcpy(k.src, key.src, sizeof k.src);
    k.family = key.family;
    k.ifindex = key.ifindex;
    source* victim = &sources_[0];
    const uint64_t now = now_ms();
    for (int i = 0; i < kSources; ++i) {
        source& s = sources_[i];
        if (s.used && s.key == k) {
            s.last_use = ++tick_;
            if (now - s.cleared_at >= kBlockedForMs) {
                std::memset(s.bits, 0, sizeof s.bits);
                s.cleared_at = now;
            }
            return &s;
        }
        if (!s.used || (victim->used && s.last_use < victim->last_use)) victim = &s;
    }
    std::memset(victim->bits, 0, sizeof victim->bits);
    victim->key = k;
    victim->used = true;
    victim->cleared_at = now;
    victim->last_use = ++tick_;
    return victim;
}

uint16_t udp_port_hints::pick(const dest_key& key, port_span span,
                              const reserved_ports& reserved, bool& walked) noexcept {
    walked = false;
    std::lock_guard lock(mu_);
    dest* d = find(key, true);
    if (!d) return 0;
    if (d->span != span) {  // a new range: a new walk, nothing probed is known in it
        d->span = span;
        d->start = random_below(span.size());
        d->walked = 0;
        d->probe_at = d->start;
        d->nfree = 0;
    }
    source* s = source_of(key);
    auto usable = [&](uint16_t p) {
        return span.contains(p) && !reserved.test(p) &&
               !(s && (s->bits[p >> 6] >> (p & 63) & 1));
    };
    while (d->nfree > 0) {
        uint16_t p = d->free[--d->nfree];
        if (usable(p)) return p;
    }
    while (d->walked < span.size()) {
        uint16_t p = port_at(span, d->start + d->walked++);
        if (usable(p)) {
            walked = true;
            return p;
        }
    }
    return 0;
}

void udp_port_hints::end_walk(const dest_key& key) noexcept {
    std::lock_guard lock(mu_);
    if (dest* d = find(key, false)) {
        d->probe_at = d->start + d->walked;
        d->walked = d->span.size();
    }
}

size_t udp_port_hints::next_to_probe(const dest_key& key, port_span span,
                                     const reserved_ports& reserved, uint16_t* out, size_t n,
                                     uint32_t& visited) noexcept {
    std::lock_guard lock(mu_);
    dest* d = find(key, true);
    const uint32_t size = span.size();
    if (d && d->span != span) {
        d->span = span;
        d->start = random_below(size);
        d->walked = size;  // probing already: the walk has nothing to offer here
        d->probe_at = d->start;
        d->nfree = 0;
    }
    uint32_t at = d ? d->probe_at : random_below(size);
    size_t k = 0;
    for (visited = 0; k < n && visited < size; ++visited) {
        uint16_t p = port_at(span, at++);
        if (!reserved.test(p)) out[k++] = p;
    }
    if (d) d->probe_at = at % size;
    return k;
}

void udp_port_hints::add_free(const dest_key& key, const uint16_t* ports, size_t n) noexcept {
    std::lock_guard lock(mu_);
    dest* d = find(key, true);
    if (!d) return;
    for (size_t i = 0; i < n && d->nfree < kFreeKept; ++i) d->free[d->nfree++] = ports[i];
}

void udp_port_hints::mark_blocked(const dest_key& key, uint16_t port) noexcept {
    std::lock_guard lock(mu_);
    if (source* s = source_of(key)) s->bits[port >> 6] |= uint64_t{1} << (port & 63);
}

bool udp_port_hints::is_blocked(const dest_key& key, uint16_t port) noexcept {
    std::lock_guard lock(mu_);
    source* s = source_of(key);
    return s && (s->bits[port >> 6] >> (port & 63) & 1);
}

void udp_port_hints::clear_blocked(const dest_key& key) noexcept {
    std::lock_guard lock(mu_);
    if (source* s = source_of(key)) std::memset(s->bits, 0, sizeof s->bits);
}

size_t udp_port_hints::destinations() const noexcept {
    std::lock_guard lock(mu_);
    return dests_.size();
}

}  // namespace cx::detail
