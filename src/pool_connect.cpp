// pool_connect.cpp - connectx() with a source pool: a layer above the TCP and UDP paths, which it
// calls once per source tried. Policy (connectx(3), "Source pools"): round-robin from one
// process-wide counter, moving on while a source is exhausted toward dst; so the pool fills
// evenly, and capacity is addresses x range x destinations. Round-robin costs nothing per call;
// "least occupied first" would cost a SOCK_DIAG census per source per call. The counter starts
// at a random entry in each process; entries found exhausted lately are tried last.
#include <netinet/in.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "counters.hpp"
#include "pool_memo.hpp"
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

// One attempt from pool entry `a`: 0 or the path's errno, `res` as the path left it.
int attempt(const address& a, bool want_local, request& req, connectx_result& res) {
    if (int e = set_source(req, a)) return e;
    int e = req.ifindex ? check_interface(req) : 0;
    return e ? e : connect_request(req, want_local, res);
}

// One call's walk over the pool: the entries in round-robin order from `start`, those found
// exhausted toward dst lately (pool_memo.hpp) put off to the end, each tried once. What the
// entries found exhausted in this call is written to the memo when the walk ends: written at
// once, it would make later entries of the same call look put off.
class source_walk {
public:
    source_walk(const source_pool& pool, bool want_local, request& req, connectx_result& res)
        : pool_(pool), want_local_(want_local), req_(req), res_(res), now_(pool_memo_now_ms()) {}
    source_walk(const source_walk&) = delete;
    source_walk& operator=(const source_walk&) = delete;
    ~source_walk() {
        for (size_t i = 0; i < nfound_; ++i) pool_memo_mark(found_[i], now_);
    }

    int run(uint32_t start) {
        const uint32_t n = pool_.size();
        for (uint32_t i = 0; i < n; ++i) {
            const uint32_t k = (start + i) % n;
            // Put off only what fits in the list; the rest is tried in its turn.
            if (ndeferred_ < kMax && pool_memo_recent(key_of(k), now_)) {
                deferred_[ndeferred_++] = k;
                continue;
            }
            if (try_entry(k, false)) return e_;
        }
        for (size_t j = 0; j < ndeferred_; ++j)
            if (try_entry(deferred_[j], true)) return e_;
        return e_;
    }

private:
    static constexpr size_t kMax = 64;

    uint64_t key_of(uint32_t k) const {
        return pool_memo_key(req_.protocol, pool_.at(k), req_.dst);
    }

    // One attempt from entry `k`; true when the walk ends with it (connected, or an errno that
    // is not exhaustion).
    bool try_entry(uint32_t k, bool put_off) {
        if (tried_++ > 0) count_pool_move();
        e_ = attempt(pool_.at(k), want_local_, req_, res_);
        lookups_ += res_.lookups;
        attempts_ += res_.attempts;
        res_.lookups = lookups_;
        res_.attempts = attempts_;
        if (!exhausted(e_)) {
            if (put_off && (e_ == 0 || e_ == EINPROGRESS)) pool_memo_forget(key_of(k));
            return true;
        }
        if (nfound_ < kMax) found_[nfound_++] = key_of(k);
        // The last exhaustion is the call's errno, counted with the call (count_call).
        if (tried_ < pool_.size()) count_exhausted(req_.protocol, e_);
        return false;
    }

    const source_pool& pool_;
    const bool want_local_;
    request& req_;
    connectx_result& res_;
    const uint64_t now_;
    int e_ = EAGAIN;
    uint32_t tried_ = 0, lookups_ = 0, attempts_ = 0;
    uint32_t deferred_[kMax];
    size_t ndeferred_ = 0;
    uint64_t found_[kMax];
    size_t nfound_ = 0;
};

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
    source_walk walk(pool, true, req, res);
    return walk.run(start);
}

}  // namespace cx::detail
