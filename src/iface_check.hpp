// iface_check.hpp - opts.ifindex checked where the socket lives: does the interface exist in the
// socket's network namespace, and is the source address on it? Asked over rtnetlink in that
// namespace (RTM_GETLINK for the index, an RTM_GETADDR dump for the addresses), since
// if_indextoname(3) and getifaddrs(3) answer for the calling thread's namespace, which may be
// another. Builders and parsers are pure functions.
#pragma once

#include <cstddef>
#include <cstdint>

#include <connectx/connectx.hpp>

namespace cx::detail {

class netns_state;

inline constexpr size_t kIfaceRequestMax = 64;

// RTM_GETLINK for one interface index. Its length, 0 when cap < kIfaceRequestMax.
size_t link_build_request(void* buf, size_t cap, uint32_t seq, int ifindex) noexcept;
// The reply: 0 and whether it is a loopback interface; ENODEV when there is no such interface;
// the kernel's errno; EPROTO when malformed or not the answer to (seq, portid, ifindex).
int link_parse_reply(const void* buf, size_t len, uint32_t seq, uint32_t portid, int ifindex,
                     bool& loopback) noexcept;

// RTM_GETADDR dump of one family's addresses. Its length, 0 when cap < kIfaceRequestMax.
size_t addr_build_dump(void* buf, size_t cap, uint32_t seq, int family) noexcept;

// What the dump is searched for: `ip` (4 or 16 bytes, network order, of `family`) on `ifindex`;
// on a loopback interface anywhere inside an address's prefix (127.0.0.0/8 answers on lo
// without being listed address by address).
struct addr_search {
    int family = 0;
    uint8_t ip[16] = {};
    int ifindex = 0;
    bool loopback = false;
    bool found = false;
};
// One datagram of the dump: sets s.found on a match and `done` at NLMSG_DONE. 0, the kernel's
// errno, or EPROTO when malformed or not the answer to (seq, portid).
int addr_parse_dump(const void* buf, size_t len, uint32_t seq, uint32_t portid, addr_search& s,
                    bool& done) noexcept;

// 0 when interface `ifindex` exists in the namespace of socket `fd` (state `ns`) and `src` is
// the wildcard or one of its addresses; else ENODEV, EADDRNOTAVAIL, or a netlink errno (see
// connectx.h: the check fails closed).
int check_interface(netns_state& ns, int fd, int ifindex, const address& src) noexcept;

}  // namespace cx::detail
