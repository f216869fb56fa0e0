// port_budget.hpp - a SOCK_DIAG census of one protocol's sockets in the calling thread's
// namespace, and the budgets it gives per (source IP, destination): connectx_budget(3) and
// cx::port_census(). The census and the counting are pure (fed entries, they touch nothing);
// take_census() is the I/O around them.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <map>
#include <vector>

#include "port_range.hpp"
#include "sock_diag.hpp"

namespace cx::detail {

// An IP of either family; IPv4 in the first 4 bytes. IPv4-mapped addresses are IPv4 here.
struct ip_key {
    int family = 0;
    std::array<uint8_t, 16> ip{};
    auto operator<=>(const ip_key&) const = default;
    bool is_wildcard() const noexcept;
};

struct pair_key {
    ip_key src;
    ip_key dst;
    uint16_t dst_port = 0;
    auto operator<=>(const pair_key&) const = default;
};

struct census {
    // Local ports of the connected sockets, per (local IP, remote IP and port).
    std::map<pair_key, std::vector<uint16_t>> connected;
    // Local ports of the sockets that are not connected (listeners, unconnected UDP), per local
    // IP (the wildcard included).
    std::map<ip_key, std::vector<uint16_t>> unconnected;
};

// One dumped socket into the census. An IPv6 socket's IPv4-mapped flow counts as IPv4: its
// 4-tuple lives in the IPv4 tables. Allocates (may throw std::bad_alloc).
void census_add(census& c, const diag_entry& e);

// Usable ports of `range` (those `reserved` leaves) that cannot carry a new flow of `pair`: held
// by one of its connected sockets, or by an unconnected socket bound to its source or the
// wildcard. See connectx_budget(3).
uint32_t census_used(const census& c, const pair_key& pair, port_span range,
                     const reserved_ports& reserved) noexcept;

// Dumps `protocol`'s sockets, IPv4 and IPv6, in the calling thread's namespace into `out`.
// 0 or an errno (the netlink ones of sock_diag.hpp, ENOMEM).
[[nodiscard]] int take_census(int protocol, census& out) noexcept;

}  // namespace cx::detail
