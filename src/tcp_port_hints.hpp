// tcp_port_hints.hpp - what one namespace knows of the local ports toward its busiest TCP
// destinations, so that connect() may be told the one port to check (IP_LOCAL_PORT_RANGE=[P,P])
// instead of searching. Only a hint: the kernel checks the port it is given (range, reserved
// ports, 4-tuple, bind bucket) and a wrong hint costs one more connect(), never a wrong answer.
//
// Per destination (source address or none, destination address and port, table, device): a
// bitmap of the ports believed taken toward it, from a filtered SOCK_DIAG dump when the
// destination was found busy (tcp_fill.cpp), plus every port handed out since and every port
// the kernel refused; and a cursor, so that ports are handed out in turn. Ports freed by closes
// the library never sees stay marked until the next dump: the kernel's own search finds them
// meanwhile. Bounded: kMaxDestinations per namespace, the least recently used one forgotten.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include "port_range.hpp"
#include "udp_port_hints.hpp"  // dest_key

namespace cx::detail {

// Ports taken toward one destination, one bit per port (set = taken or not to be used).
struct port_bitmap {
    uint64_t bits[65536 / 64] = {};
    bool test(uint16_t p) const noexcept { return bits[p >> 6] >> (p & 63) & 1; }
    void set(uint16_t p) noexcept { bits[p >> 6] |= uint64_t{1} << (p & 63); }
    // The first clear port of `span` at or after `from` (wrapping once), or 0 if none.
    uint16_t next_clear(port_span span, uint16_t from) const noexcept;
    // Set ports of `span`.
    uint32_t count(port_span span) const noexcept;
};

enum class hint_pick {
    port,         // a port to try, claimed: no other thread gets it
    not_busy,     // the destination is not known busy here: connect() searches as always
    exhausted,    // every port is marked: let the kernel search (it finds ports freed since)
    refresh_due,  // the knowledge is old: dump again first (the caller calls install)
};

class tcp_port_hints {
public:
    static constexpr size_t kMaxDestinations = 32;  // ~8 KB each, allocated when found busy
    // A dump is redone this often while a destination stays busy (closes the library never saw,
    // other programs' sockets, a changed range), and no more often than kMinDumpMs when every
    // port is marked.
    static constexpr uint64_t kRefreshMs = 1000;
    static constexpr uint64_t kMinDumpMs = 100;

    tcp_port_hints() noexcept;
    ~tcp_port_hints();
    tcp_port_hints(const tcp_port_hints&) = delete;
    tcp_port_hints& operator=(const tcp_port_hints&) = delete;

    // A port of the destination's span to try toward `key` (outcome port), or why not.
    hint_pick pick(const dest_key& key, uint64_t now_ms, uint16_t& port) noexcept;
    // The kernel refused `port` toward `key`, or chose it itself: not to be handed out.
    void mark_taken(const dest_key& key, uint16_t port) noexcept;
    // Knowledge of `key` from a dump made at `now_ms`: `taken` covers `span` (reserved ports
    // included). ENOMEM when it cannot be kept (the destination stays unknown).
    [[nodiscard]] int install(const dest_key& key, port_span span, const port_bitmap& taken,
                              uint64_t now_ms) noexcept;
    // Forgets `key`: connect() searches as always toward it.
    void forget(const dest_key& key) noexcept;

    // Destinations known busy now (tests: memory stays bounded).
    size_t destinations() const noexcept;

private:
    struct dest;
    dest* find(const dest_key& key) noexcept;  // mu_ held

    mutable std::mutex mu_;
    std::unique_ptr<dest> slots_[kMaxDestinations];
    uint64_t tick_ = 0;  // for least recently used
};

}  // namespace cx::detail
