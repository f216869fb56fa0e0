// nl_msg.cpp - message-level checks shared by the netlink reply parsers (libmnl).
#include "nl_msg.hpp"

#include <libmnl/libmnl.h>
#include <linux/netlink.h>

#include <cerrno>
#include <cstring>

namespace cx::detail {

nlmsghdr* nl_request_start(void* buf, size_t size, uint16_t type, uint16_t flags,
                           uint32_t seq) noexcept {
    std::memset(buf, 0, size);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = flags;
    nlh->nlmsg_seq = seq;
    return nlh;
}

bool nl_msg_fits(const void* msg, size_t remaining) noexcept {
    if (remaining < sizeof(nlmsghdr)) return false;
    uint32_t len;
    std::memcpy(&len, msg, sizeof len);
    return len >= sizeof(nlmsghdr) && len <= remaining;
}

bool nl_msg_answers(const void* msg, size_t remaining, uint32_t seq, uint32_t portid) noexcept {
    if (!nl_msg_fits(msg, remaining)) return false;
    auto* nlh = static_cast<const nlmsghdr*>(msg);
    return nlh->nlmsg_seq == seq && nlh->nlmsg_pid == portid;
}

bool nl_attrs_ok(const void* msg, size_t offset) noexcept {
    auto* nlh = static_cast<const nlmsghdr*>(msg);
    auto* p = static_cast<const uint8_t*>(mnl_nlmsg_get_payload_offset(nlh, offset));
    // The message's own end, not libmnl's payload tail: that is nlmsg_len rounded up to 4, which
    // lies past the datagram when nlmsg_len is not a multiple of 4 (found by fuzzing).
    auto* end = reinterpret_cast<const uint8_t*>(nlh) + nlh->nlmsg_len;
    while (p < end) {
        auto* a = reinterpret_cast<const nlattr*>(p);
        if (!mnl_attr_ok(a, int(end - p))) return false;
        p += MNL_ALIGN(a->nla_len);
    }
    return true;
}

nl_error nl_error_decode(const void* msg) noexcept {
    auto* nlh = static_cast<const nlmsghdr*>(msg);
    if (mnl_nlmsg_get_payload_len(nlh) < sizeof(nlmsgerr)) return {};
    int error;
    std::memcpy(&error, mnl_nlmsg_get_payload(nlh), sizeof error);  // nlmsgerr.error comes first
    if (error > 0 || error < -4095) return {};
    if (error == 0) return {nl_error_kind::ack, 0};
    return {nl_error_kind::error, -error};
}

int nl_error_answer(const void* nlh) noexcept {
    nl_error e = nl_error_decode(nlh);
    return e.kind == nl_error_kind::error ? e.errno_value : EPROTO;
}

}  // namespace cx::detail
