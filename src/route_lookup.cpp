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

#include "nl_msg.hpp"
#include "nl_socket.hpp"

namespace cx::detail {
namespace {

constexpr size_t kRouteReplyMax = 2048;
// The bits of IP_TOS that routing looks at: the DSCP (the kernel refuses an rtm_tos with ECN bits).
constexpr uint8_t kDscpMask = 0xfc;

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
    nlmsghdr* nlh = nl_request_start(buf, kRouteRequestMax, RTM_GETROUTE, NLM_F_REQUEST, seq);
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
    if (!nl_msg_answers(nlh, len, seq, portid)) return EPROTO;
    if (MNL_ALIGN(nlh->nlmsg_len) < len) return EPROTO;  // exactly one message expected
    if (nlh->nlmsg_type == NLMSG_ERROR) return nl_error_answer(nlh);
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

}  // namespace cx::detail
