// pool_connect.cpp - connectx() with a source pool: a layer above the TCP and UDP paths, which it
// calls once per source tried. Policy (connectx(3), "Source pools"): round-robin from one
// process-wide counter, moving on while a source is exhausted toward dst; so the pool fills
// evenly, and capacity is addresses x range x destinations. Round-robin costs nothing per call;
// "least occupied first" would cost a SOCK_DIAG census per source per call. The counter starts
// at a random entry in each process.
#include <netinet/in.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "counters.hpp"
#include "request.hpp"
#include "source_pool.hpp"

namespace cx::detail {
namespace {

// Where this process's round-robin starts: random, so that short-lived processes sharing a pool
// (one connection each, as the CLI makes) do not all start at its first address.
uint32_t first_source() {
    uint32_t v = 0;
    if (getentropy(&v, sizeof v) != 0) v = uint32_t(getpid());
    return v;
}

std::atomic<uint32_t> g_next_source{first_source()};

// An attempt that says "this source has no room toward dst": move on. UDP: EAGAIN (the search
// looked at every usable port). TCP: EADDRNOTAVAIL (the kernel found no free port or 4-tuple);
// either protocol's bind says EADDRNOTAVAIL too for an address that is not local, and one such
// entry should not end a call that other entries can serve.
bool exhausted(int e) {
    return e == EAGAIN || e == EADDRNOTAVAIL;
}

// The caller's src with a pool: only "no preference" (NULL, or the wildcard with port 0).
int check_src(const sockaddr* src, socklen_t src_len) {
    if (!src || src_len == 0) return 0;
    auto a = address::from_sockaddr(src, src_len);
    if (!a) return a.error().value();
    return a->is_wildcard() && a->port() == 0 ? 0 : EINVAL;
}

// One entry against the validated request (a copy: nothing is kept).
int check_entry(request req, const address& a) {
    if (int e = source_pool::check_entry(a)) return e;
    return set_source(req, a);
}

// Every entry against the validated request, before any side effect: each of the list (no system
// call: a cost per call that grows with the list), and of a prefix its first and last address,
// which bound it (family and class are the prefix's; the broadcast address can only be its last).
int check_entries(const source_pool& pool, const request& req) {
    for (uint32_t k = 0; k < pool.list_size(); ++k)
        if (int e = check_entry(req, pool.at(k))) return e;
    if (pool.size() > pool.list_size()) {
        if (int e = check_entry(req, pool.at(pool.list_size()))) return e;
        if (int e = check_entry(req, pool.at(pool.size() - 1))) return e;
    }
    return 0;
}

// Tries the pool's sources from `start` until one connects or the pool is exhausted. The request
// was validated with the first; the sockets' state between attempts (an address bound with no
// port, after a failed attempt) is one the paths' binds accept.
int try_sources(const source_pool& pool, uint32_t start, bool want_local, request& req,
                connectx_result& res) {
    int e = EAGAIN;
    uint32_t lookups = 0, attempts = 0;
    for (uint32_t i = 0; i < pool.size(); ++i) {
        if (i > 0) count_pool_move();
        if (int s = set_source(req, pool.at((start + i) % pool.size()))) return s;
        e = req.ifindex ? check_interface(req) : 0;
        if (e == 0) e = connect_request(req, want_local, res);
        lookups += res.lookups;
        attempts += res.attempts;
        res.lookups = lookups;
        res.attempts = attempts;
        if (!exhausted(e)) return e;
        if (i + 1 < pool.size()) count_exhausted(req.protocol, e);
    }
    return e;
}

}  // namespace

int connect_pool(int fd, const sockaddr* src, socklen_t src_len, const sockaddr* dst,
                 socklen_t dst_len, const connectx_opts& opts, request& req,
                 connectx_result& res) noexcept {
    source_pool pool;
    if (int e = pool.take(opts)) return e;
    if (pool.size() == 0) return EINVAL;  // e.g. only a prefix with no usable address
    if (int e = check_src(src, src_len)) return e;
    const uint32_t start = g_next_source.fetch_add(1, std::memory_order_relaxed) % pool.size();
    const address first = pool.at(start);
    if (int e = source_pool::check_entry(first)) return e;
    if (int e = validate(fd, first.sa(), first.size(), dst, dst_len, &opts, req)) return e;
    if (int e = check_entries(pool, req)) return e;
    // The caller's result is written by connect_socket; the source chosen is its `local`.
    return try_sources(pool, start, true, req, res);
}

}  // namespace cx::detail
