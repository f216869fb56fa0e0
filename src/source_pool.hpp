// source_pool.hpp - a source-address pool as connectx_opts gives it (a list and/or a prefix): its
// checks, its size and its k-th address. Pure: nothing here touches a socket, so tests and the
// pool dispatcher (pool_connect.cpp) share one reading of the caller's fields.
#pragma once

#include <connectx/connectx.hpp>
#include <cstdint>

namespace cx::detail {

// Most addresses a pool's list, or its prefix, may hold: 2^16. A prefix of an IPv6 /64 would
// make a call that walks it unbounded; a list that long is a configuration mistake.
inline constexpr uint32_t kPoolMax = 65536;

class source_pool {
public:
    // True when `o` carries a pool at all.
    static bool wanted(const connectx_opts& o) noexcept {
        return o.pool || o.pool_count || o.pool_prefix_len || o.pool_prefix;
    }
    // Takes the pool fields of `o` (which must outlive this object). EINVAL for a pool that
    // cannot be one: an empty one (no entry, no prefix), NULL pointers with a count or length, a
    // prefix pointer with length 0, a count or prefix over kPoolMax, a
    // prefix length over its family's bits, host bits set, a non-zero reserved1_. Entries are
    // checked against the socket by the dispatcher (set_source).
    [[nodiscard]] int take(const connectx_opts& o) noexcept;

    uint32_t size() const noexcept { return count_ + prefix_size_; }
    uint32_t list_size() const noexcept { return count_; }  // the list's entries come first
    // The k-th address (k < size()), port 0: the list's first, then the prefix's.
    address at(uint32_t k) const noexcept;
    // An entry's own shape: EINVAL for a port, or the wildcard address.
    [[nodiscard]] static int check_entry(const address& a) noexcept;

private:
    const sockaddr_storage* list_ = nullptr;
    uint32_t count_ = 0;
    address prefix_;
    uint32_t prefix_size_ = 0;
    uint32_t prefix_skip_ = 0;  // 1 when an IPv4 prefix leaves out its network address
};

// "IP/LEN" into a prefix, host bits zero. EINVAL otherwise.
[[nodiscard]] int parse_prefix(std::string_view text, address& network, uint8_t& length) noexcept;

// The bits of an address's family a prefix length counts over: 32 or 128.
inline int prefix_bits(const address& a) noexcept {
    return a.family() == AF_INET ? 32 : 128;
}

}  // namespace cx::detail
