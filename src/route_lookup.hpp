// route_lookup.hpp - the source address the kernel would use toward a destination, asked from the
// routing table with rtnetlink RTM_GETROUTE (libmnl) instead of connecting a throwaway socket,
// which would autobind, consume a port and fail exactly when the range is exhausted. The request
// carries what steers the kernel's own choice: the output device (bound device, or the scope of
// a link-local destination) and the socket's mark. Builder and parser are pure functions.
#pragma once

#include <cstddef>
#include <cstdint>

#include <connectx/connectx.hpp>

namespace cx::detail {

class netns_state;

// The question connect(2) asks the routing table, field for field, so that policy rules
// (ipproto, sport, dport, dsfield, uidrange, fwmark, oif, from) answer it the same way.
struct route_query {
    int family = 0;        // AF_INET or AF_INET6
    uint8_t dst[16] = {};  // network order; 4 bytes used for AF_INET
    uint8_t src[16] = {};  // the bound source, network order; all zero = none (RTA_SRC left out)
    uint32_t oif = 0;      // output interface, 0 = any
    uint32_t mark = 0;     // SO_MARK, 0 = none
    uint32_t uid = 0;      // the socket's owner (sk_uid: the inode's uid)
    uint16_t sport = 0;    // host order; 0 = not bound yet (as connect(2) asks before autobind)
    uint16_t dport = 0;    // host order
    uint8_t protocol = 0;  // IPPROTO_TCP or IPPROTO_UDP
    uint8_t tos = 0;       // IPv4: the socket's IP_TOS (its DSCP bits decide dsfield rules)
    friend bool operator==(const route_query&, const route_query&) = default;
};

struct route_answer {
    uint8_t src[16] = {};  // preferred source (RTA_PREFSRC), network order
    uint32_t oif = 0;      // output interface of the route (RTA_OIF), 0 if absent
};

inline constexpr size_t kRouteRequestMax = 128;

// Builds the RTM_GETROUTE request. Returns its length, 0 when cap < kRouteRequestMax.
size_t route_build_request(void* buf, size_t cap, uint32_t seq, const route_query& q) noexcept;

// Parses the reply to the request built for (seq, portid, q). Returns 0 and fills `out`, or:
//   the kernel's errno (NLMSG_ERROR, e.g. ENETUNREACH);
//   ENETUNREACH / EHOSTUNREACH / EACCES / EINVAL for unreachable, throw, prohibit and blackhole
//   routes (what connect(2) would report);
//   EADDRNOTAVAIL when the route has no preferred source;
//   EPROTO when the reply is malformed, truncated, for another request, or of another family.
int route_parse_reply(const void* buf, size_t len, uint32_t seq, uint32_t portid,
                      const route_query& q, route_answer& out) noexcept;

// One round trip over a connected NETLINK_ROUTE socket. 0 or an errno as above, ETIMEDOUT when no
// reply comes within the socket's receive timeout.
int route_lookup(int nl, uint32_t portid, uint32_t seq, const route_query& q,
                 route_answer& out) noexcept;

// The question connect(2) would ask for socket `fd` (protocol `protocol`) toward `dst`: the
// socket's SO_MARK, owner and IP_TOS, the ports, the output device `oif` (0 = any) and, when
// `src` is not the wildcard, the source with its port. Asked in the socket's namespace `ns`;
// answers are cached there until rtnetlink says routing changed. 0 or an errno as route_lookup's.
int route_ask(netns_state& ns, int fd, int protocol, const address& src, const address& dst,
              uint32_t oif, route_answer& out) noexcept;

// The source address the kernel would pick for socket `fd` toward `dst`: route_ask with `src`,
// a wildcard address whose port (0 = none yet) is part of the question. Written into `src` (its
// family and port are kept; IPv4-mapped when `dst` is; a link-scoped one gets the device as its
// scope). `dev`, if given, gets the route's device.
int route_source(netns_state& ns, int fd, int protocol, const address& dst, uint32_t oif,
                 address& src, uint32_t* dev = nullptr) noexcept;

}  // namespace cx::detail
