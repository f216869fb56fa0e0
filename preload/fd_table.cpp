// fd_table.cpp - the per-descriptor slots: one anonymous mapping made on first use.
#include "fd_table.hpp"

#include <sys/mman.h>

#include <algorithm>

namespace cxp {
namespace {

// 262,144 descriptors, 48 bytes each: 12 MiB of address space, touched only where used.
constexpr unsigned kSlots = 1u << 18;

fd_slot* map_table() noexcept {
    void* p = mmap(nullptr, sizeof(fd_slot) * kSlots, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? nullptr : static_cast<fd_slot*>(p);  // zero pages: all slots empty
}

fd_slot* table() noexcept {
    static fd_slot* const t = map_table();
    return t;
}

// Highest descriptor ever given a slot: close_range(3, ~0U) walks up to it, not the whole table.
std::atomic<unsigned> g_high{0};

void note_high(int fd) noexcept {
    unsigned seen = g_high.load(std::memory_order_relaxed);
    while (unsigned(fd) > seen &&
           !g_high.compare_exchange_weak(seen, unsigned(fd), std::memory_order_relaxed)) {
    }
}

}  // namespace

[[gnu::constructor(102)]] static void map_at_load() {
    (void)table();
}

fd_slot* slot_of(int fd) noexcept {
    if (fd < 0 || unsigned(fd) >= kSlots) return nullptr;
    fd_slot* t = table();
    return t ? t + fd : nullptr;
}

void slot_reset(int fd, uint32_t flags) noexcept {
    if (fd_slot* s = slot_of(fd)) {
        if (flags) note_high(fd);
        s->flags.store(flags, std::memory_order_release);
    }
}

void slot_clear(int fd) noexcept {
    fd_slot* s = slot_of(fd);
    // Only write a slot that holds something: a zero page stays untouched.
    if (s && s->flags.load(std::memory_order_relaxed) != 0)
        s->flags.store(0, std::memory_order_release);
}

void slot_clear_range(unsigned first, unsigned last) noexcept {
    last = std::min(last, g_high.load(std::memory_order_relaxed));
    for (unsigned fd = first; fd <= last && fd < kSlots; ++fd) slot_clear(int(fd));
}

void slot_copy(int from, int to) noexcept {
    fd_slot* dst = slot_of(to);
    if (!dst) return;
    fd_slot* src = slot_of(from);
    uint32_t f = src ? src->flags.load(std::memory_order_acquire) : 0;
    if (f) {
        dst->source = src->source;
        note_high(to);
    }
    dst->flags.store(f, std::memory_order_release);
}

}  // namespace cxp
