// route_lookup.cpp - RTM_GETROUTE request and reply validation (libmnl).
#include "route_lookup.hpp"

#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "netns_cache.hpp"
#include "request.hpp"
#include "sys.hpp"

namespace cx::detail {
namespace {

constexpr size_t kRouteReplyMax = 2048;
// The bits of IP_TOS that routing looks at: the DSCP (the kernel refuses an rtm_tos with ECN bits).
constexpr uint8_t kDscpMask = 0xfc;

size_t addr_len(int family) {
    return family == AF_INET ? 4 : 16;
}

struct route_attrs {
    const nlattr* prefsrc = nullptr;
    const nlattr* oif = nullptr;
};

int collect(const nlattr* a, void* data) {
    auto* out = static_cast<route_attrs*>(data);
    switch (mnl_attr_get_type(a)) {
        case RTA_PREFSRC:
            out->prefsrc = a;
            break;
        case RTA_OIF:
            if (mnl_attr_validate(a, MNL_TYPE_U32) < 0) return MNL_CB_ERROR;
            out->oif = a;
            break;
        default:
            break;
    }
    return MNL_CB_OK;
}

}  // namespace

size_t route_build_request(void* buf, size_t cap, uint32_t seq, const route_query& q) noexcept {
    if (cap < kRouteRequestMax || (q.family != AF_INET && q.family != AF_INET6)) return 0;
    std::memset(buf, 0, kRouteRequestMax);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_GETROUTE;
    nlh->nlmsg_flags = NLM_F_REQUEST;
    nlh->nlmsg_seq = seq;
    auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
    rtm->rtm_family = uint8_t(q.family);
    rtm->rtm_dst_len = uint8_t(addr_len(q.family) * 8);
    mnl_attr_put(nlh, RTA_DST, addr_len(q.family), q.dst);
    static constexpr uint8_t kNone[16] = {};
    if (std::memcmp(q.src, kNone, addr_len(q.family)) != 0) {
        rtm->rtm_src_len = rtm->rtm_dst_len;
        mnl_attr_put(nlh, RTA_SRC, addr_len(q.family), q.src);
    }
    if (q.family == AF_INET) rtm->rtm_tos = q.tos & kDscpMask;
    if (q.oif) mnl_attr_put_u32(nlh, RTA_OIF, q.oif);
    if (q.mark) mnl_attr_put_u32(nlh, RTA_MARK, q.mark);
    mnl_attr_put_u32(nlh, RTA_UID, q.uid);
    if (q.protocol) mnl_attr_put_u8(nlh, RTA_IP_PROTO, q.protocol);
    if (q.sport) mnl_attr_put_u16(nlh, RTA_SPORT, htons(q.sport));
    if (q.dport) mnl_attr_put_u16(nlh, RTA_DPORT, htons(q.dport));
    return nlh->nlmsg_len;
}

int route_parse_reply(const void* buf, size_t len, uint32_t seq, uint32_t portid,
                      const route_query& q, route_answer& out) noexcept {
    out = route_answer{};
    if (len < sizeof(nlmsghdr) || len > kRouteReplyMax * 64) return EPROTO;
    auto* nlh = static_cast<const nlmsghdr*>(buf);
    if (!nl_msg_fits(nlh, len) || nlh->nlmsg_seq != seq || nlh->nlmsg_pid != portid) return EPROTO;
    if (MNL_ALIGN(nlh->nlmsg_len) < len) return EPROTO;  // exactly one message expected
    if (nlh->nlmsg_type == NLMSG_ERROR) {
        if (mnl_nlmsg_get_payload_len(nlh) < sizeof(nlmsgerr)) return EPROTO;
        auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
        if (err->error >= 0 || err->error < -4095) return EPROTO;  // an ACK is not an answer
        return -err->error;
    }
    if (nlh->nlmsg_type != RTM_NEWROUTE) return EPROTO;
    if (mnl_nlmsg_get_payload_len(nlh) < sizeof(rtmsg)) return EPROTO;
    auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(nlh));
    if (rtm->rtm_family != q.family) return EPROTO;
    route_attrs attrs;
    if (!nl_attrs_ok(nlh, sizeof(rtmsg))) return EPROTO;
    if (mnl_attr_parse(nlh, sizeof(rtmsg), collect, &attrs) < 0) return EPROTO;
    switch (rtm->rtm_type) {
        case RTN_UNREACHABLE:
            return ENETUNREACH;
        case RTN_THROW:
            return EHOSTUNREACH;  // no route after policy: as the kernel's -EAGAIN
        case RTN_PROHIBIT:
            return EACCES;
        case RTN_BLACKHOLE:
            return EINVAL;
        default:
            break;
    }
    // A query with a source gets that source back (RTA_SRC), not a preferred one.
    static constexpr uint8_t kNone[16] = {};
    const bool asked_src = std::memcmp(q.src, kNone, addr_len(q.family)) != 0;
    if (attrs.prefsrc) {
        if (mnl_attr_get_payload_len(attrs.prefsrc) != addr_len(q.family)) return EPROTO;
        std::memcpy(out.src, mnl_attr_get_payload(attrs.prefsrc), addr_len(q.family));
    } else if (asked_src) {
        std::memcpy(out.src, q.src, addr_len(q.family));
    } else {
        return EADDRNOTAVAIL;
    }
    if (attrs.oif) out.oif = mnl_attr_get_u32(attrs.oif);
    return 0;
}

int route_lookup(int nl, uint32_t portid, uint32_t seq, const route_query& q,
                 route_answer& out) noexcept {
    alignas(nlmsghdr) uint8_t req[kRouteRequestMax];
    size_t n = route_build_request(req, sizeof req, seq, q);
    if (n == 0) return EINVAL;
    if (int e = nl_send(nl, req, n)) return e;
    alignas(nlmsghdr) uint8_t reply[kRouteReplyMax];
    size_t got;
    if (int e = nl_recv(nl, reply, sizeof reply, got)) return e;
    return route_parse_reply(reply, got, seq, portid, q, out);
}

int route_ask(netns_state& ns, int fd, int protocol, const address& src, const address& dst,
              uint32_t oif, route_answer& a) noexcept {
    // IPv4-mapped destinations are IPv4 traffic: ask the IPv4 table.
    const bool v4 = dst.family() == AF_INET || dst.is_v4_mapped();
    route_query q;
    q.family = v4 ? AF_INET : AF_INET6;
    std::memcpy(q.dst, ip_bytes(dst, v4), v4 ? 4 : 16);
    if (!src.is_wildcard() && src.family() == dst.family())
        std::memcpy(q.src, ip_bytes(src, v4), v4 ? 4 : 16);
    q.oif = oif;
    q.protocol = uint8_t(protocol);
    q.sport = src.family() == dst.family() ? src.port() : 0;
    q.dport = dst.port();
    int mark = 0;
    if (int e = sys::getsockopt_int(fd, SOL_SOCKET, SO_MARK, mark)) return e;
    q.mark = uint32_t(mark);
    struct stat st;
    if (::fstat(fd, &st) < 0) return errno;
    q.uid = st.st_uid;  // the socket inode's owner is the socket's sk_uid
    if (v4) {
        int tos = 0;
        if (int e = sys::getsockopt_int(fd, IPPROTO_IP, IP_TOS, tos)) return e;
        q.tos = uint8_t(tos);
    }
    // The routing table rarely changes between calls: ask the kernel only when it may have.
    uint64_t gen;
    if (ns.route_cached(q, a, gen)) return 0;
    nl_lease route;
    if (int e = ns.lease(NETLINK_ROUTE, fd, route)) return e;
    if (int e = route_lookup(route.fd(), route.portid(), route.next_seq(), q, a)) {
        if (e == ETIMEDOUT || e == EPROTO) route.discard();
        return e;
    }
    ns.route_store(q, a, gen);
    return 0;
}

int route_source(netns_state& ns, int fd, int protocol, const address& dst, uint32_t oif,
                 address& src, uint32_t* dev) noexcept {
    route_answer a;
    if (int e = route_ask(ns, fd, protocol, src, dst, oif, a)) return e;
    if (dev) *dev = a.oif;
    const bool v4 = dst.family() == AF_INET || dst.is_v4_mapped();
    if (src.family() == AF_INET) {
        std::memcpy(&reinterpret_cast<sockaddr_in*>(src.sa())->sin_addr, a.src, 4);
        return 0;
    }
    auto* s6 = reinterpret_cast<sockaddr_in6*>(src.sa());
    if (v4) {
        std::memset(&s6->sin6_addr, 0, 16);
        s6->sin6_addr.s6_addr[10] = s6->sin6_addr.s6_addr[11] = 0xff;
        std::memcpy(s6->sin6_addr.s6_addr + 12, a.src, 4);
    } else {
        std::memcpy(&s6->sin6_addr, a.src, 16);
    }
    s6->sin6_scope_id = 0;
    if (src.needs_scope()) s6->sin6_scope_id = oif ? oif : a.oif;
    return 0;
}

}  // namespace cx::detail
