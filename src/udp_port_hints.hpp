// udp_port_hints.hpp - what this process knows about the source ports toward each destination,
// for the UDP port search. Only a hint, small and bounded: the lock and its exact lookup decide.
//
// Per destination (source address, destination address and port, table, device), ~100 bytes:
//   - a walk over the usable ports from a random start, handing each port out once per round.
//     While a fill goes on, the next port of the walk is free toward the destination (this
//     process has not used it there), whatever other destinations share it: one try, one lookup,
//     at any occupancy and for any number of destinations;
//   - ports that a batch of exact lookups found free toward the destination (the search probes
//     in batches once the walk's round is over: after closes the process never saw, or once a
//     walked port turned out taken).
// The table grows to kMaxDestinations and then forgets the least recently used destination;
// forgetting costs a round of batched lookups later, never a wrong answer.
//
// Per source address: ports whose bind failed recently (held without SO_REUSEADDR by a socket
// that shares with no one). A failed bind through IP_LOCAL_PORT_RANGE costs the kernel a walk of
// its whole UDP hash (~1 ms): such ports are passed over until the marks are cleared, every
// kBlockedForMs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "port_range.hpp"

namespace cx::detail {

struct dest_key {
    uint8_t src[16] = {};
    uint8_t dst[16] = {};
    uint16_t dport = 0;
    uint16_t family = 0;  // of the tuple looked up: AF_INET (also for mapped) or AF_INET6
    uint32_t ifindex = 0;
    friend bool operator==(const dest_key&, const dest_key&) = default;
};

class udp_port_hints {
public:
    static constexpr size_t kMaxDestinations = size_t(1) << 16;
    static constexpr size_t kFreeKept = 16;  // probed-free ports remembered per destination
    static constexpr uint64_t kBlockedForMs = 250;

    udp_port_hints() noexcept;
    ~udp_port_hints();
    udp_port_hints(const udp_port_hints&) = delete;
    udp_port_hints& operator=(const udp_port_hints&) = delete;

    // The next candidate toward `key` within `span`, claimed (no other thread gets it): a
    // probed-free port, else the next port of the walk while its round goes on. 0 when neither is
    // left: the caller probes (next_to_probe). Reserved ports and blocked ones are passed over.
    // ENOMEM-free: a destination that cannot be remembered gets 0 (probe) every time.
    // `walked`: the port came from the walk (not from a probe).
    uint16_t pick(const dest_key& key, port_span span, const reserved_ports& reserved,
                  bool& walked) noexcept;

    // Ends the walk's round toward `key`: a walked port turned out taken, so the rest of the walk
    // is no better than any port; candidates come from probes from now on.
    void end_walk(const dest_key& key) noexcept;

    // Up to `n` ports toward `key` to look up in one batch: the next ones of a cyclic walk of
    // `span` (reserved ports passed over, blocked ones included: the caller sets them aside).
    // `visited`: the ports of the span the walk went past, reserved ones included.
    size_t next_to_probe(const dest_key& key, port_span span, const reserved_ports& reserved,
                         uint16_t* out, size_t n, uint32_t& visited) noexcept;

    // Ports a batch of lookups found free toward `key`.
    void add_free(const dest_key& key, const uint16_t* ports, size_t n) noexcept;

    // Ports of source `src` (family's bytes) whose bind failed: passed over for a while.
    void mark_blocked(const dest_key& key, uint16_t port) noexcept;
    bool is_blocked(const dest_key& key, uint16_t port) noexcept;
    void clear_blocked(const dest_key& key) noexcept;

    // Destinations remembered now (tests and benchmarks: memory stays bounded).
    size_t destinations() const noexcept;

private:
    struct dest;
    struct source;
    dest* find(const dest_key& key, bool create) noexcept;  // mu_ held
    source* source_of(const dest_key& key) noexcept;        // mu_ held
    void touch(uint32_t i) noexcept;                        // mu_ held: most recently used
    void unlink(uint32_t i) noexcept;                       // mu_ held

    mutable std::mutex mu_;
    std::vector<dest> dests_;         // slab; grows by doubling up to kMaxDestinations
    std::vector<uint32_t> buckets_;   // hash -> first dest index of the chain, kNone if empty
    uint32_t lru_head_ = UINT32_MAX;  // most recently used
    uint32_t lru_tail_ = UINT32_MAX;
    static constexpr int kSources = 8;
    std::unique_ptr<source[]> sources_;
    uint64_t tick_ = 0;
};

}  // namespace cx::detail
