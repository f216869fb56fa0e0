// tcp_fill.cpp - when a TCP destination is busy, and the port hint's use in one call.
#include "tcp_fill.hpp"

#include <linux/netlink.h>
#include <netinet/in.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>
#include <new>

#include "sock_diag.hpp"
#include "sys.hpp"
#include "tcp_busy_keys.hpp"
#include "tcp_port_hints.hpp"

#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51
#endif

namespace cx::detail {
namespace {

// Set once a socket refused IP_LOCAL_PORT_RANGE (ENOPROTOOPT: before 6.3): nothing here helps.
std::atomic<bool> g_no_local_port_range{false};
// The low end of the ip_local_port_range a sample last read (any namespace), -1 before.
std::atomic<int> g_last_low{-1};

// IP_LOCAL_PORT_RANGE with a low bound of 1 and no high bound: the kernel ignores a bound outside
// the namespace's range, so this is exactly that range, whatever it is now, searched in single
// steps (6.8+). 0 would mean "unset" (the paired search).
constexpr uint32_t kWholeRange = 1;

uint64_t now_ms() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1000000;
}

bool failed(int e) {
    return e != 0 && e != EINPROGRESS && e != EINTR;
}

// The calls this applies to: the kernel picks the port from the namespace's range.
bool eligible(const request& r) {
    return r.protocol == IPPROTO_TCP && !r.has_range() && r.src_port() == 0 &&
           !g_no_local_port_range.load(std::memory_order_relaxed);
}

// The destination as the hint knows it: IPv4-mapped tuples in the IPv4 table, no source when
// the route picks it.
dest_key key_of(const request& r) {
    dest_key k;
    const bool v4 = r.family == AF_INET || r.dst.is_v4_mapped();
    k.family = uint16_t(v4 ? AF_INET : AF_INET6);
    if (r.src_ip_given) std::memcpy(k.src, ip_bytes(r.src, v4), v4 ? 4 : 16);
    std::memcpy(k.dst, ip_bytes(r.dst, v4), v4 ? 4 : 16);
    k.dport = r.dst.port();
    k.ifindex = r.ifindex ? uint32_t(r.ifindex) : r.dst.scope_id();
    return k;
}

// The sockets of a dump that keep a port from this destination: a 4-tuple toward it from the
// source (or from any address, when the route picks the source), or a socket bound to the port
// and not connected (a listener, a bind before connect).
struct dump_marks {
    const dest_key* key;
    port_bitmap* taken;
};
void mark_entry(const diag_entry& e, void* ctx) {
    auto* m = static_cast<dump_marks*>(ctx);
    static const uint8_t kAny[16] = {};
    const size_t len = e.family == AF_INET ? 4 : 16;
    const bool any_source = std::memcmp(m->key->src, kAny, 16) == 0;
    const bool same_source = std::memcmp(e.local, m->key->src, len) == 0;
    // A mapped tuple of a dual-stack socket: its IPv4 address in the last 4 bytes.
    const bool mapped_source =
        len == 16 && m->key->family == AF_INET && std::memcmp(e.local + 12, m->key->src, 4) == 0;
    if (any_source || same_source || mapped_source || std::memcmp(e.local, kAny, len) == 0)
        m->taken->set(e.local_port);
}

enum class busy { yes, no, unknown };

// The ports of `span` that the namespace's reserved list holds, marked in `taken`.
bool mark_reserved(netns_state& ns, port_span span, port_bitmap& taken) {
    std::unique_ptr<reserved_ports> reserved(new (std::nothrow) reserved_ports);
    if (!reserved) return false;
    ns.reserved_copy(*reserved);
    for (uint32_t p = span.lo; p <= span.hi; ++p)
        if (reserved->test(uint16_t(p))) taken.set(uint16_t(p));
    return true;
}

// A destination just found busy by a call that got `port`: the kernel's first pass found none of
// the ports of the low end's parity free toward it, so they start marked (with the reserved ones
// and `port`); the others the kernel took since then cost a retry each. No dump here: it would
// cost the call that found the destination busy a few milliseconds (~4,000 sockets); the first
// refresh makes one.
busy engage(netns_state& ns, const dest_key& key, port_span span, uint16_t port) {
    // Rare (once per busy destination): allocating here is fine.
    std::unique_ptr<port_bitmap> taken(new (std::nothrow) port_bitmap);
    if (!taken || !mark_reserved(ns, span, *taken)) return busy::unknown;
    for (uint32_t p = span.lo; p <= span.hi; p += 2) taken->set(uint16_t(p));
    taken->set(port);
    return ns.tcp_hints.install(key, span, *taken, now_ms()) == 0 ? busy::yes : busy::unknown;
}

// Dumps the sockets toward `key` in the namespace, marks their ports and the reserved ones, and
// keeps that as the hint while at least half the range is taken.
busy relearn(netns_state& ns, const request& r, const dest_key& key) {
    if (ns.refresh_sysctls() != 0) return busy::unknown;
    const port_span span = ns.range_copy();
    std::unique_ptr<port_bitmap> taken(new (std::nothrow) port_bitmap);
    if (!taken || !mark_reserved(ns, span, *taken)) return busy::unknown;
    nl_lease nl;
    if (ns.lease(NETLINK_SOCK_DIAG, r.fd, nl) != 0) return busy::unknown;
    dump_marks marks{&key, taken.get()};
    const int remote_family = key.family;
    if (sock_diag_dump(nl.fd(), nl.portid(), nl.next_seq(), r.family, IPPROTO_TCP, span.lo, span.hi,
                       remote_family, key.dst, key.dport, mark_entry, &marks) != 0) {
        nl.discard();  // may still hold part of the reply
        return busy::unknown;
    }
    if (taken->count(span) * 2 < span.size()) return busy::no;
    return ns.tcp_hints.install(key, span, *taken, now_ms()) == 0 ? busy::yes : busy::unknown;
}

// The port `fd` got, 0 if unknown.
uint16_t local_port(int fd) {
    sockaddr_storage self;
    socklen_t len = sizeof self;
    if (sys::getsockname(fd, reinterpret_cast<sockaddr*>(&self), len) != 0) return 0;
    auto a = address::from_sockaddr(reinterpret_cast<sockaddr*>(&self), len);
    return a ? a->port() : 0;
}

}  // namespace

tcp_fill_hint::tcp_fill_hint(const request& r) noexcept : r_(r), eligible_(eligible(r)) {}

void tcp_fill_hint::set_key() noexcept {
    key_ = key_of(r_);
    hash_ = tcp_busy_hash(key_);
}

void tcp_fill_hint::apply() noexcept {
    // The key is made only when some destination is busy: most calls pay one load here.
    if (!eligible_ || tcp_busy_empty()) return;
    set_key();
    if (!tcp_busy_contains(hash_)) return;
    if (netns_for_socket(r_.fd, ns_) != 0) return;
    int range = 0;
    if (int e = sys::getsockopt_int(r_.fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, range)) {
        if (e == ENOPROTOOPT) g_no_local_port_range.store(true, std::memory_order_relaxed);
        return;
    }
    if (range != 0) return;  // the caller's own range: the kernel searches in single steps
    uint16_t port = 0;
    hint_pick got = ns_->tcp_hints.pick(key_, now_ms(), port);
    if (got == hint_pick::refresh_due) {
        if (relearn(*ns_, r_, key_) != busy::yes) {
            ns_->tcp_hints.forget(key_);
            tcp_busy_remove(hash_);
            return;
        }
        got = ns_->tcp_hints.pick(key_, now_ms(), port);
    }
    if (got == hint_pick::not_busy) {
        // Busy in another namespace, or forgotten here (least recently used): not to be asked
        // on every call. A namespace where it is still busy finds it again by its samples.
        tcp_busy_remove(hash_);
        return;
    }
    if (got != hint_pick::port && got != hint_pick::exhausted) return;
    const uint32_t value = port ? uint32_t(port) << 16 | port : kWholeRange;
    if (sys::setsockopt_int(r_.fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, int(value)) != 0) return;
    used_ = true;
    port_ = port;
}

bool tcp_fill_hint::retry() noexcept {
    if (!used_ || port_ == 0) return false;  // the whole range was searched already
    ns_->tcp_hints.mark_taken(key_, port_);
    if (sys::setsockopt_int(r_.fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, int(kWholeRange)) != 0)
        return false;
    port_ = 0;
    retried_ = true;
    return true;
}

void tcp_fill_hint::finish(int e) noexcept {
    if (used_) {
        if (failed(e))
            sys::restore_int(r_.fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, 0);
        else if (retried_)
            learn_port_taken();
        return;
    }
    if (eligible_ && !failed(e)) sample();
}

// The kernel chose the port itself: the hint must not hand it out.
void tcp_fill_hint::learn_port_taken() noexcept {
    if (uint16_t p = local_port(r_.fd)) ns_->tcp_hints.mark_taken(key_, p);
}

// Every kSampleEvery-th call: a port of the other parity than the range's low end means the
// kernel's first pass found nothing free toward the destination. The low end last seen is kept
// process-wide so that a sample costs one getsockname(): only a port that looks like the
// second pass's has the namespace's own range read.
void tcp_fill_hint::sample() noexcept {
    static thread_local uint32_t calls = 0;
    if (++calls % kSampleEvery != 0) return;
    const uint16_t port = local_port(r_.fd);
    const int low = g_last_low.load(std::memory_order_relaxed);
    if (port == 0 || (low >= 0 && (port - low) % 2 == 0)) return;
    // Rare from here on (a port of the other parity than the last low end seen): the range is
    // read afresh, so a destination is never judged, nor its hint made, by a stale one.
    if (netns_for_socket(r_.fd, ns_) != 0 || ns_->refresh_sysctls() != 0) return;
    const port_span span = ns_->range_copy();
    g_last_low.store(span.lo, std::memory_order_relaxed);
    if (!span.contains(port) || (port - span.lo) % 2 == 0) return;
    int range = 0;
    if (int e = sys::getsockopt_int(r_.fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, range)) {
        if (e == ENOPROTOOPT) g_no_local_port_range.store(true, std::memory_order_relaxed);
        return;
    }
    if (range != 0) return;  // single steps: parity says nothing
    set_key();
    if (engage(*ns_, key_, span, port) == busy::yes && !tcp_busy_add(hash_))
        ns_->tcp_hints.forget(key_);
}

}  // namespace cx::detail
