// rtnl.cpp - the harness's rtnetlink calls by name: interface names become indexes, address
// strings become bytes; the requests themselves are tools/common/rtnl.cpp's.
#include "rtnl.hpp"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <net/if.h>

#include <cerrno>
#include <cstring>

#include "tools/common/rtnl.hpp"

namespace cxtest {

int link_up(const char* ifname) {
    unsigned idx = if_nametoindex(ifname);
    if (!idx) return ENODEV;
    return cxcommon::link_up(idx);
}

int add_address(const char* ifname, const char* ip, int prefix_len) {
    unsigned idx = if_nametoindex(ifname);
    if (!idx) return ENODEV;
    unsigned char addr[16];
    int family = strchr(ip, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(family, ip, addr) != 1) return EINVAL;
    return cxcommon::add_address(idx, family, addr, prefix_len);
}

int add_dummy(const char* ifname) {
    return cxcommon::add_link(ifname, "dummy", nullptr);
}
int add_veth_pair(const char* a, const char* b) {
    return cxcommon::add_link(a, "veth", b);
}

int add_route_v4(const char* prefix, int len, const char* ifname, const char* src, int table) {
    unsigned idx = if_nametoindex(ifname);
    if (!idx) return ENODEV;
    in_addr dst{}, from{};
    if (inet_pton(AF_INET, prefix, &dst) != 1 || inet_pton(AF_INET, src, &from) != 1)
        return EINVAL;
    alignas(nlmsghdr) char buf[MNL_SOCKET_BUFFER_SIZE];
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_NEWROUTE;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
    auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
    rtm->rtm_family = AF_INET;
    rtm->rtm_dst_len = uint8_t(len);
    rtm->rtm_table = RT_TABLE_UNSPEC;
    rtm->rtm_protocol = RTPROT_STATIC;
    rtm->rtm_scope = RT_SCOPE_LINK;
    rtm->rtm_type = RTN_UNICAST;
    mnl_attr_put(nlh, RTA_DST, 4, &dst);
    mnl_attr_put(nlh, RTA_PREFSRC, 4, &from);
    mnl_attr_put_u32(nlh, RTA_OIF, idx);
    mnl_attr_put_u32(nlh, RTA_TABLE, uint32_t(table));
    return cxcommon::rtnl_transact(nlh);
}

int add_rule_v4(const rule_v4& r) {
    alignas(nlmsghdr) char buf[MNL_SOCKET_BUFFER_SIZE];
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_NEWRULE;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
    auto* frh = static_cast<fib_rule_hdr*>(mnl_nlmsg_put_extra_header(nlh, sizeof(fib_rule_hdr)));
    frh->family = AF_INET;
    frh->action = FR_ACT_TO_TBL;
    frh->tos = uint8_t(r.tos);
    mnl_attr_put_u32(nlh, FRA_TABLE, uint32_t(r.table));
    if (r.ipproto) mnl_attr_put_u8(nlh, FRA_IP_PROTO, uint8_t(r.ipproto));
    if (r.sport) {
        fib_rule_port_range p{uint16_t(r.sport), uint16_t(r.sport)};
        mnl_attr_put(nlh, FRA_SPORT_RANGE, sizeof p, &p);
    }
    if (r.dport) {
        fib_rule_port_range p{uint16_t(r.dport), uint16_t(r.dport)};
        mnl_attr_put(nlh, FRA_DPORT_RANGE, sizeof p, &p);
    }
    if (r.uid >= 0) {
        fib_rule_uid_range u{uint32_t(r.uid), uint32_t(r.uid)};
        mnl_attr_put(nlh, FRA_UID_RANGE, sizeof u, &u);
    }
    if (r.fwmark) mnl_attr_put_u32(nlh, FRA_FWMARK, r.fwmark);
    return cxcommon::rtnl_transact(nlh);
}

}  // namespace cxtest
