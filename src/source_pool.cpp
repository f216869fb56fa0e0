// source_pool.cpp - a pool's fields checked, and its addresses counted and enumerated.
#include "source_pool.hpp"

#include <cerrno>
#include <charconv>
#include <cstring>

#include "request.hpp"

namespace cx::detail {
namespace {

// Raw bytes of the address's IP and how many (4 or 16); writable.
uint8_t* raw_ip(address& a, size_t& len) noexcept {
    len = a.family() == AF_INET ? 4 : 16;
    return const_cast<uint8_t*>(ip_bytes(a, false));
}

// Host bits (below `length`) of `a` are all zero.
bool host_bits_zero(address a, int length) noexcept {
    size_t len;
    const uint8_t* b = raw_ip(a, len);
    for (size_t bit = size_t(length); bit < len * 8; ++bit)
        if (b[bit / 8] & (0x80 >> (bit % 8))) return false;
    return true;
}

// `a` plus `n` in its host part (big-endian add over the address bytes).
void add_to(address& a, uint32_t n) noexcept {
    size_t len;
    uint8_t* b = raw_ip(a, len);
    for (size_t i = len; i-- > 0 && n != 0;) {
        uint32_t v = b[i] + (n & 0xff);
        b[i] = uint8_t(v);
        n = (n >> 8) + (v >> 8);
    }
}

}  // namespace

int source_pool::check_entry(const address& a) noexcept {
    if (a.port() != 0 || a.is_wildcard()) return EINVAL;
    return 0;
}

int source_pool::take(const connectx_opts& o) noexcept {
    if (o.reserved1_[0] || o.reserved1_[1] || o.reserved1_[2]) return EINVAL;
    if (o.pool_count != 0 && !o.pool) return EINVAL;
    if (o.pool_count > kPoolMax) return EINVAL;
    list_ = o.pool;
    count_ = o.pool_count;
    if (o.pool_prefix_len == 0) return o.pool_prefix || count_ == 0 ? EINVAL : 0;
    if (!o.pool_prefix) return EINVAL;
    auto p = address::from_sockaddr(reinterpret_cast<const sockaddr*>(o.pool_prefix),
                                    sizeof *o.pool_prefix);
    if (!p) return p.error().value();
    const int bits = prefix_bits(*p);
    const int len = o.pool_prefix_len;
    // An IPv4-mapped prefix counts its length over 128 bits, the mapped part included.
    const bool v4 = p->family() == AF_INET || p->is_v4_mapped();
    if (len > bits || (p->is_v4_mapped() && len < 96)) return EINVAL;
    if (bits - len > 16 || p->port() != 0 || !host_bits_zero(*p, len)) return EINVAL;
    const int v4_len = p->family() == AF_INET ? len : len - 96;
    prefix_ = *p;
    prefix_size_ = uint32_t(1) << (bits - len);
    // Below /31 an IPv4 prefix's first and last addresses are its network and broadcast
    // addresses, from which no connection leaves.
    if (v4 && v4_len < 31) {
        prefix_size_ -= 2;
        prefix_skip_ = 1;
    }
    return 0;
}

address source_pool::at(uint32_t k) const noexcept {
    if (k < count_) {
        auto a =
            address::from_sockaddr(reinterpret_cast<const sockaddr*>(&list_[k]), sizeof list_[k]);
        return a ? *a : address{};
    }
    address a = prefix_;
    add_to(a, k - count_ + prefix_skip_);
    return a;
}

int parse_prefix(std::string_view text, address& network, uint8_t& length) noexcept {
    const auto slash = text.rfind('/');
    if (slash == std::string_view::npos) return EINVAL;
    auto a = address::parse(text.substr(0, slash));
    if (!a || a->port() != 0) return EINVAL;
    const auto digits = text.substr(slash + 1);
    unsigned len = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), len);
    if (ec != std::errc{} || end != digits.data() + digits.size() || digits.empty()) return EINVAL;
    if (len > unsigned(prefix_bits(*a)) || !host_bits_zero(*a, int(len))) return EINVAL;
    network = *a;
    length = uint8_t(len);
    return 0;
}

}  // namespace cx::detail

namespace cx {

result<prefix> prefix::parse(std::string_view text) noexcept {
    prefix p;
    if (int e = detail::parse_prefix(text, p.network, p.length)) return errno_code(e);
    return p;
}

}  // namespace cx
