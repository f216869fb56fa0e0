// rtnl.cpp - rtnetlink requests built and acknowledged with libmnl.
#include "tools/common/rtnl.hpp"

#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <ctime>

namespace cxcommon {
namespace {

constexpr size_t kBufSize = 8192;  // MNL_SOCKET_BUFFER_SIZE is not a constant expression

}  // namespace

int rtnl_transact(nlmsghdr* nlh) {
    mnl_socket* nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
    if (!nl) return errno;
    int e = 0;
    if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) e = errno;
    auto seq = unsigned(time(nullptr));
    nlh->nlmsg_seq = seq;
    nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    if (!e && mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) e = errno;
    if (!e) {
        char buf[kBufSize];
        ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof buf);
        if (n < 0)
            e = errno;
        else if (mnl_cb_run(buf, size_t(n), seq, mnl_socket_get_portid(nl), nullptr, nullptr) < 0)
            e = errno;
    }
    mnl_socket_close(nl);
    return e;
}

int link_up(unsigned ifindex) {
    char buf[kBufSize];
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_NEWLINK;
    auto* ifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
    ifm->ifi_family = AF_UNSPEC;
    ifm->ifi_index = int(ifindex);
    ifm->ifi_change = IFF_UP;
    ifm->ifi_flags = IFF_UP;
    return rtnl_transact(nlh);
}

int add_address(unsigned ifindex, int family, const void* addr, int prefix_len) {
    char buf[kBufSize];
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_NEWADDR;
    nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
    auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
    ifa->ifa_family = uint8_t(family);
    ifa->ifa_prefixlen = uint8_t(prefix_len);
    ifa->ifa_index = ifindex;
    ifa->ifa_flags = IFA_F_NODAD;
    size_t len = family == AF_INET ? 4 : 16;
    mnl_attr_put(nlh, IFA_LOCAL, len, addr);
    mnl_attr_put(nlh, IFA_ADDRESS, len, addr);
    mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_NODAD);  // ifa_flags has 8 bits; the kernel reads this
    return rtnl_transact(nlh);
}

int add_link(const char* ifname, const char* kind, const char* peer) {
    char buf[kBufSize];
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_NEWLINK;
    nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
    auto* ifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
    ifm->ifi_family = AF_UNSPEC;
    mnl_attr_put_strz(nlh, IFLA_IFNAME, ifname);
    nlattr* info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
    mnl_attr_put_strz(nlh, IFLA_INFO_KIND, kind);
    if (peer) {
        nlattr* data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
        nlattr* p = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
        auto* pifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
        std::memset(pifm, 0, sizeof *pifm);
        mnl_attr_put_strz(nlh, IFLA_IFNAME, peer);
        mnl_attr_nest_end(nlh, p);
        mnl_attr_nest_end(nlh, data);
    }
    mnl_attr_nest_end(nlh, info);
    return rtnl_transact(nlh);
}

}  // namespace cxcommon
