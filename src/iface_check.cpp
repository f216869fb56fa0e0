// iface_check.cpp - RTM_GETLINK / RTM_GETADDR requests and replies (libmnl), and the check.
#include "iface_check.hpp"

#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <new>

#include "nl_msg.hpp"
#include "nl_pool.hpp"
#include "nl_socket.hpp"
#include "request.hpp"

namespace cx::detail {
namespace {

constexpr size_t kLinkReplyMax = 16384;  // one RTM_NEWLINK with all its attributes
constexpr size_t kAddrReplyMax = 32768;  // a dump datagram

struct addr_attrs {
    const nlattr* address = nullptr;
    const nlattr* local = nullptr;
};

int collect_addr(const nlattr* a, void* data) {
    auto* out = static_cast<addr_attrs*>(data);
    if (mnl_attr_get_type(a) == IFA_ADDRESS) out->address = a;
    if (mnl_attr_get_type(a) == IFA_LOCAL) out->local = a;
    return MNL_CB_OK;
}

bool prefix_match(const uint8_t* a, const uint8_t* b, unsigned bits) {
    for (unsigned i = 0; bits > 0; ++i, bits = bits > 8 ? bits - 8 : 0) {
        uint8_t mask = bits >= 8 ? uint8_t(0xff) : uint8_t(0xff << (8 - bits));
        if ((a[i] ^ b[i]) & mask) return false;
    }
    return true;
}

// One RTM_NEWADDR: valid, and does it match the search?
int match_addr(const nlmsghdr* nlh, addr_search& s) {
    if (mnl_nlmsg_get_payload_len(nlh) < sizeof(ifaddrmsg)) return EPROTO;
    auto* ifa = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(nlh));
    if (!nl_attrs_ok(nlh, sizeof(ifaddrmsg))) return EPROTO;
    addr_attrs attrs;
    if (mnl_attr_parse(nlh, sizeof(ifaddrmsg), collect_addr, &attrs) < 0) return EPROTO;
    if (ifa->ifa_family != s.family || int(ifa->ifa_index) != s.ifindex) return 0;
    // IPv4's own address is IFA_LOCAL (IFA_ADDRESS is the peer's on point-to-point links).
    const nlattr* a = attrs.local ? attrs.local : attrs.address;
    const size_t n = s.family == AF_INET ? 4 : 16;
    if (!a || mnl_attr_get_payload_len(a) != n) return EPROTO;
    const auto* have = static_cast<const uint8_t*>(mnl_attr_get_payload(a));
    const unsigned bits =
        s.loopback ? std::min<unsigned>(ifa->ifa_prefixlen, unsigned(n) * 8) : unsigned(n) * 8;
    if (prefix_match(have, s.ip, bits)) s.found = true;
    return 0;
}

}  // namespace

size_t link_build_request(void* buf, size_t cap, uint32_t seq, int ifindex) noexcept {
    if (cap < kIfaceRequestMax) return 0;
    nlmsghdr* nlh = nl_request_start(buf, kIfaceRequestMax, RTM_GETLINK, NLM_F_REQUEST, seq);
    auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = ifindex;
    // Only the header is wanted: no statistics nor VF lists (RTEXT_FILTER_*), a short reply.
    mnl_attr_put_u32(nlh, IFLA_EXT_MASK, 0);
    return nlh->nlmsg_len;
}

int link_parse_reply(const void* buf, size_t len, uint32_t seq, uint32_t portid, int ifindex,
                     bool& loopback) noexcept {
    auto* nlh = static_cast<const nlmsghdr*>(buf);
    if (!nl_msg_answers(nlh, len, seq, portid)) return EPROTO;
    if (nlh->nlmsg_type == NLMSG_ERROR) return nl_error_answer(nlh);
    if (nlh->nlmsg_type != RTM_NEWLINK) return EPROTO;
    if (mnl_nlmsg_get_payload_len(nlh) < sizeof(ifinfomsg)) return EPROTO;
    auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
    if (ifi->ifi_index != ifindex || !nl_attrs_ok(nlh, sizeof(ifinfomsg))) return EPROTO;
    loopback = (ifi->ifi_flags & IFF_LOOPBACK) != 0;
    return 0;
}

size_t addr_build_dump(void* buf, size_t cap, uint32_t seq, int family) noexcept {
    if (cap < kIfaceRequestMax || (family != AF_INET && family != AF_INET6)) return 0;
    nlmsghdr* nlh =
        nl_request_start(buf, kIfaceRequestMax, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq);
    auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
    ifa->ifa_family = uint8_t(family);
    return nlh->nlmsg_len;
}

int addr_parse_dump(const void* buf, size_t len, uint32_t seq, uint32_t portid, addr_search& s,
                    bool& done) noexcept {
    done = false;
    auto* p = static_cast<const uint8_t*>(buf);
    size_t off = 0;
    if (len == 0) return EPROTO;
    while (off < len) {
        auto* nlh = reinterpret_cast<const nlmsghdr*>(p + off);
        if (!nl_msg_answers(nlh, len - off, seq, portid)) return EPROTO;
        if (nlh->nlmsg_type == NLMSG_DONE) {
            done = true;
            return 0;
        }
        if (nlh->nlmsg_type == NLMSG_ERROR) return nl_error_answer(nlh);
        if (nlh->nlmsg_type != RTM_NEWADDR) return EPROTO;
        if (int e = match_addr(nlh, s)) return e;
        off += MNL_ALIGN(nlh->nlmsg_len);
    }
    return 0;
}

int check_interface(nl_lease& nl, int ifindex, const address& src) noexcept {
    alignas(nlmsghdr) uint8_t req[kIfaceRequestMax];
    // Allocated on a thread's first check: static TLS stays small (see sock_diag.cpp).
    static thread_local std::unique_ptr<uint8_t[]> buffer;
    if (!buffer) buffer.reset(new (std::nothrow) uint8_t[kAddrReplyMax]);
    if (!buffer) return ENOMEM;
    uint8_t* reply = buffer.get();
    static_assert(kAddrReplyMax >= kLinkReplyMax);
    // A reply that timed out or did not parse may still be on its way: the socket is not reused.
    auto fail = [&](int e) {
        if (e != ENODEV) nl.discard();
        return e;
    };
    uint32_t seq = nl.next_seq();
    size_t got;
    if (int e = nl_send(nl.fd(), req, link_build_request(req, sizeof req, seq, ifindex)))
        return fail(e);
    if (int e = nl_recv(nl.fd(), reply, kAddrReplyMax, got)) return fail(e);
    addr_search s;
    if (int e = link_parse_reply(reply, got, seq, nl.portid(), ifindex, s.loopback)) return fail(e);
    if (src.is_wildcard()) return 0;
    const bool v4 = src.family() == AF_INET || src.is_v4_mapped();
    s.family = v4 ? AF_INET : AF_INET6;
    std::memcpy(s.ip, ip_bytes(src, v4), v4 ? 4 : 16);
    s.ifindex = ifindex;
    seq = nl.next_seq();
    if (int e = nl_send(nl.fd(), req, addr_build_dump(req, sizeof req, seq, s.family)))
        return fail(e);
    for (bool done = false; !done;) {
        if (int e = nl_recv(nl.fd(), reply, kAddrReplyMax, got)) return fail(e);
        if (int e = addr_parse_dump(reply, got, seq, nl.portid(), s, done)) return fail(e);
    }
    return s.found ? 0 : EADDRNOTAVAIL;
}

}  // namespace cx::detail
