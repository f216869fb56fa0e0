// route_source.hpp - what connect(2) would ask the routing table for a given socket, asked in
// the socket's namespace (netns_state: its route cache, then a pooled NETLINK_ROUTE socket).
// Above route_lookup (the codec) and netns_state.
#pragma once

#include <connectx/connectx.hpp>
#include <cstdint>

#include "netns_state.hpp"
#include "route_lookup.hpp"

namespace cx::detail {

// The question connect(2) would ask for socket `fd` (protocol `protocol`) toward `dst`: the
// socket's SO_MARK, owner and IP_TOS, the ports, the output device `oif` (0 = any) and, when
// `src` is not the wildcard, the source with its port. Asked in the socket's namespace `ns`;
// answers are cached there until rtnetlink says routing changed. 0 or an errno as route_lookup's.
[[nodiscard]] int route_ask(netns_state& ns, int fd, int protocol, const address& src,
                            const address& dst, uint32_t oif, route_answer& out) noexcept;

// The device the route toward `dst` from `src` leaves by, asked with nothing of a socket's (no
// mark, owner, TOS or ports): the device a flow from `dst` arrives on, for lookups that must name
// it. `fd` only says which namespace (see netns_state::lease). 0 or an errno as route_ask's.
[[nodiscard]] int route_device(netns_state& ns, int fd, const address& src, const address& dst,
                               uint32_t& dev) noexcept;

// The source address the kernel would pick for socket `fd` toward `dst`: route_ask with `src`,
// a wildcard address whose port (0 = none yet) is part of the question. Written into `src` (its
// family and port are kept; IPv4-mapped when `dst` is; a link-scoped one gets the device as its
// scope). `dev`, if given, gets the route's device.
[[nodiscard]] int route_source(netns_state& ns, int fd, int protocol, const address& dst,
                               uint32_t oif, address& src, uint32_t* dev = nullptr) noexcept;

}  // namespace cx::detail
