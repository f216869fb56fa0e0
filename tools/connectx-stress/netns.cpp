// netns.cpp - entering and preparing a scenario's private network namespace. Link up and address
// requests are tools/common's; the route lookup, which only this tool makes, is built here.
#include "netns.hpp"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "tools/common/kernel_file.hpp"
#include "tools/common/rtnl.hpp"

namespace cxstress {

using cxcommon::write_file;

namespace {

constexpr size_t kNetlinkBuf = 8192;

// An IPv6 /128 on `ifindex`.
int add_address_v6(unsigned ifindex, const cx::address& a) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(a.sa());
    return cxcommon::add_address(ifindex, AF_INET6, &sin6->sin6_addr, 128);
}

// rtm_type of the kernel's route to `a` (RTM_GETROUTE), in `type`. Returns 0 or an errno.
int route_type(const cx::address& a, unsigned char& type) {
    char buf[kNetlinkBuf];
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_GETROUTE;
    auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
    rtm->rtm_family = AF_INET6;
    rtm->rtm_dst_len = 128;
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(a.sa());
    mnl_attr_put(nlh, RTA_DST, sizeof sin6->sin6_addr, &sin6->sin6_addr);

    mnl_socket* nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
    if (!nl) return errno;
    int e = 0;
    auto seq = unsigned(time(nullptr));
    nlh->nlmsg_seq = seq;
    nlh->nlmsg_flags = NLM_F_REQUEST;
    if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
        mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
        e = errno;
    } else {
        ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof buf);
        auto cb = [](const nlmsghdr* reply, void* out) {
            if (reply->nlmsg_type != RTM_NEWROUTE ||
                mnl_nlmsg_get_payload_len(reply) < sizeof(rtmsg))
                return MNL_CB_ERROR;
            *static_cast<unsigned char*>(out) =
                static_cast<const rtmsg*>(mnl_nlmsg_get_payload(reply))->rtm_type;
            return MNL_CB_OK;
        };
        if (n < 0)
            e = errno;
        else if (mnl_cb_run(buf, size_t(n), seq, mnl_socket_get_portid(nl), cb, &type) < 0)
            e = errno ? errno : EPROTO;
    }
    mnl_socket_close(nl);
    return e;
}

// IPv6 addresses added with IFA_F_NODAD are bound at once, but their local routes come a moment
// later, from the kernel's address-configuration work. Meanwhile the prefix route already sends
// packets to them out of lo as if they were remote: a TCP handshake started then is lost. Waits,
// up to kRouteWaitMs, until the route to each address is RTN_LOCAL.
constexpr int kRouteWaitMs = 5000;

int wait_until_local(const std::vector<cx::address>& addrs) {
    for (const auto& a : addrs) {
        for (int waited = 0;; waited += 1) {
            unsigned char type = RTN_UNSPEC;
            int e = route_type(a, type);
            if (e == 0 && type == RTN_LOCAL) break;
            if ((e != 0 && e != ENETUNREACH) || waited >= kRouteWaitMs) return e ? e : ETIMEDOUT;
            ::usleep(1000);
        }
    }
    return 0;
}

}  // namespace

int enter_private_netns(std::string& how) {
    if (::unshare(CLONE_NEWNET) == 0) {
        how = "root";
        return 0;
    }
    if (errno != EPERM) return errno;
    // Not privileged: a user namespace of our own makes us root over a new network namespace.
    uid_t uid = ::geteuid();
    gid_t gid = ::getegid();
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0) return errno;
    write_file("/proc/self/setgroups", "deny");  // absent on old kernels: gid_map works anyway
    if (int e = write_file("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1")) return e;
    if (int e = write_file("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1")) return e;
    how = "user namespace";
    return 0;
}

int write_sysctl(const char* rel, const std::string& value) {
    return write_file((std::string("/proc/sys/") + rel).c_str(), value);
}

cx::address source_address(int family) noexcept {
    if (family == AF_INET) return cx::address::v4(0x7f000001u, 0);  // 127.0.0.1
    auto a = cx::address::parse("2001:db8::1");
    return a ? *a : cx::address{};
}

cx::address pool_address(int family, int index) noexcept {
    if (family == AF_INET) return cx::address::v4(0x7f000001u + uint32_t(index), 0);
    cx::address a = source_address(AF_INET6);
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(a.sa());
    sin6->sin6_addr.s6_addr[14] = uint8_t((index + 1) >> 8);
    sin6->sin6_addr.s6_addr[15] = uint8_t(index + 1);
    return a;
}

cx::address destination_address(int family, int index) noexcept {
    if (family == AF_INET)  // 127.0.1.1 and on: all of 127/8 is local on lo
        return cx::address::v4(0x7f000100u + uint32_t(index) + 1, kServerPort);
    cx::address a = source_address(AF_INET6);
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(a.sa());
    uint32_t n = uint32_t(index) + 1;  // 2001:db8::1:0 + n
    sin6->sin6_addr.s6_addr[11] = 1;
    sin6->sin6_addr.s6_addr[12] = uint8_t(n >> 24);
    sin6->sin6_addr.s6_addr[13] = uint8_t(n >> 16);
    sin6->sin6_addr.s6_addr[14] = uint8_t(n >> 8);
    sin6->sin6_addr.s6_addr[15] = uint8_t(n);
    a.set_port(kServerPort);
    return a;
}

int set_up_netns(const config& cfg, int backlog, endpoints& ep, std::string& what) {
    unsigned lo = ::if_nametoindex("lo");
    if (!lo) {
        what = "no loopback interface";
        return ENODEV;
    }
    if (int e = cxcommon::link_up(lo)) {
        what = "bring lo up";
        return e;
    }
    std::string range = std::to_string(cfg.port_lo) + " " + std::to_string(cfg.port_hi);
    if (int e = write_sysctl("net/ipv4/ip_local_port_range", range)) {
        what = "set ip_local_port_range to " + range;
        return e;
    }
    // listen() silently caps its backlog at somaxconn; connections the kernel completes wait
    // in the accept queue, so it must hold every one of them.
    if (int e = write_sysctl("net/core/somaxconn", std::to_string(backlog))) {
        what = "set net.core.somaxconn";
        return e;
    }
    ep.source = source_address(cfg.family);
    ep.pool.clear();
    for (int i = 0; cfg.sources > 1 && i < cfg.sources; ++i)
        ep.pool.push_back(pool_address(cfg.family, i));
    ep.port_lo = cfg.port_lo;
    ep.port_hi = cfg.port_hi;
    ep.destinations.clear();
    for (int i = 0; i < cfg.destinations; ++i)
        ep.destinations.push_back(destination_address(cfg.family, i));
    if (cfg.family == AF_INET6) {
        if (int e = add_address_v6(lo, ep.source)) {
            what = "add " + ep.source.ip_string() + " to lo";
            return e;
        }
        // The pool's other addresses, on the same interface (its first is the source).
        for (size_t i = 1; i < ep.pool.size(); ++i)
            if (int e = add_address_v6(lo, ep.pool[i])) {
                what = "add " + ep.pool[i].ip_string() + " to lo";
                return e;
            }
        for (const auto& d : ep.destinations)
            if (int e = add_address_v6(lo, d)) {
                what = "add " + d.ip_string() + " to lo";
                return e;
            }
        std::vector<cx::address> all = ep.destinations;
        all.push_back(ep.source);
        all.insert(all.end(), ep.pool.begin(), ep.pool.end());
        if (int e = wait_until_local(all)) {
            what = "wait for the routes of the IPv6 addresses";
            return e;
        }
    }
    return 0;
}

}  // namespace cxstress
