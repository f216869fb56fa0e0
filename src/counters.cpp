// counters.cpp - the per-process counters behind connectx_counters_read(3) and cx::counters().
#include "counters.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <connectx/connectx.hpp>
#include <cstddef>
#include <cstring>

namespace cx::detail {
namespace {

constexpr size_t kTechniques = sizeof(connectx_counters::by_technique) / sizeof(uint64_t);

struct counters_state {
    std::atomic<uint64_t> calls{0};
    std::atomic<uint64_t> failures{0};
    std::atomic<uint64_t> by_technique[kTechniques] = {};
    std::atomic<uint64_t> lookups{0};
    std::atomic<uint64_t> eagain{0};
    std::atomic<uint64_t> eaddrnotavail{0};
    std::atomic<uint64_t> fail_closed{0};
    std::atomic<uint64_t> pool_moves{0};
};

counters_state g;

void bump(std::atomic<uint64_t>& c, uint64_t n = 1) {
    c.fetch_add(n, std::memory_order_relaxed);
}

// The errors of a conflict check that could not answer (connectx(3), "fail closed"). connect(2)
// of a UDP socket never gives them; TCP's connect may time out, so ETIMEDOUT counts for UDP only.
bool fail_closed(int protocol, bool tcp_range, int e) {
    if (protocol == IPPROTO_TCP && !tcp_range) return false;
    switch (e) {
        case EPROTO:
        case EPROTONOSUPPORT:
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM:
            return true;
        case ETIMEDOUT:
            return protocol == IPPROTO_UDP;
        default:
            return false;
    }
}

}  // namespace

void count_exhausted(int protocol, int e) noexcept {
    if (protocol == IPPROTO_UDP && e == EAGAIN) bump(g.eagain);
    if (protocol == IPPROTO_TCP && e == EADDRNOTAVAIL) bump(g.eaddrnotavail);
}

void count_call(int protocol, bool tcp_range, int e, const connectx_result& res) noexcept {
    bump(g.calls);
    if (res.lookups) bump(g.lookups, res.lookups);
    if (e == 0 || e == EINPROGRESS) {
        if (res.technique < kTechniques) bump(g.by_technique[res.technique]);
        return;
    }
    bump(g.failures);
    count_exhausted(protocol, e);
    if (fail_closed(protocol, tcp_range, e)) bump(g.fail_closed);
}

void count_pool_move() noexcept {
    bump(g.pool_moves);
}

}  // namespace cx::detail

namespace {

connectx_counters snapshot() noexcept {
    using cx::detail::g;
    connectx_counters c{};
    c.size = sizeof c;
    auto ld = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
    c.calls = ld(g.calls);
    c.failures = ld(g.failures);
    for (size_t i = 0; i < cx::detail::kTechniques; ++i) c.by_technique[i] = ld(g.by_technique[i]);
    c.lookups = ld(g.lookups);
    c.eagain = ld(g.eagain);
    c.eaddrnotavail = ld(g.eaddrnotavail);
    c.fail_closed = ld(g.fail_closed);
    c.pool_moves = ld(g.pool_moves);
    return c;
}

}  // namespace

extern "C" int connectx_counters_read(struct connectx_counters* out) {
    if (!out || out->size < offsetof(connectx_counters, calls)) {
        errno = EINVAL;
        return -1;
    }
    const uint32_t size = out->size;
    connectx_counters c = snapshot();
    std::memcpy(reinterpret_cast<char*>(out) + offsetof(connectx_counters, calls),
                reinterpret_cast<const char*>(&c) + offsetof(connectx_counters, calls),
                std::min<size_t>(size, sizeof c) - offsetof(connectx_counters, calls));
    out->size = uint32_t(std::min<size_t>(size, sizeof c));
    return 0;
}

namespace cx {

connectx_counters counters() noexcept {
    return snapshot();
}

}  // namespace cx
