// udp_util.cpp - UDP test helpers (see udp_util.hpp). The dump uses its own plain netlink code so
// the checks do not depend on the library's parser they are checking.
#include "udp_util.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>

#include "sock_ops.hpp"

namespace cxtest {

int udp_connectx(int fd, const cx::address* src, const cx::address& dst,
                 const connectx_opts* opts) {
    int rc =
        connectx(fd, src ? src->sa() : nullptr, src ? src->size() : 0, dst.sa(), dst.size(), opts);
    return rc == 0 ? 0 : errno;
}

int udp_socket(int family) {
    int fd = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd, 0) << strerror(errno);
    return fd;
}

int reuseaddr_of(int fd) {
    int v = -1;
    socklen_t len = sizeof v;
    if (getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &v, &len) < 0) return -1;
    return v;
}

uint16_t local_port_of(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return 0;
    auto a = cx::address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
    return a ? a->port() : 0;
}

bool is_connected(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    return getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0;
}

namespace {

std::string ip_port(int family, const uint32_t* addr, uint16_t port_be) {
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(family, addr, buf, sizeof buf);
    std::string ip = buf;
    // An IPv4-mapped IPv6 address and its IPv4 form are one tuple on the wire.
    if (family == AF_INET6 && ip.rfind("::ffff:", 0) == 0 && ip.find('.') != std::string::npos)
        ip = ip.substr(7);
    return ip + ":" + std::to_string(ntohs(port_be));
}

void dump_family(int family, std::vector<udp_sock>& out) {
    int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    ASSERT_GE(fd, 0);
    struct {
        nlmsghdr nlh;
        inet_diag_req_v2 req;
    } msg{};
    msg.nlh.nlmsg_len = sizeof msg;
    msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    msg.nlh.nlmsg_seq = 1;
    msg.req.sdiag_family = uint8_t(family);
    msg.req.sdiag_protocol = IPPROTO_UDP;
    msg.req.idiag_states = ~0u;
    ASSERT_EQ(::send(fd, &msg, sizeof msg, 0), ssize_t(sizeof msg));
    static char buf[65536];
    for (bool done = false; !done;) {
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        ASSERT_GT(n, 0) << strerror(errno);
        for (size_t off = 0; off + sizeof(nlmsghdr) <= size_t(n);) {
            auto* h = reinterpret_cast<nlmsghdr*>(buf + off);
            if (h->nlmsg_len < sizeof(nlmsghdr) || off + h->nlmsg_len > size_t(n)) break;
            off += NLMSG_ALIGN(h->nlmsg_len);
            if (h->nlmsg_type == NLMSG_DONE) {
                done = true;
                break;
            }
            ASSERT_NE(h->nlmsg_type, NLMSG_ERROR);
            auto* m = reinterpret_cast<inet_diag_msg*>(h + 1);
            udp_sock s;
            s.local = ip_port(m->idiag_family, m->id.idiag_src, m->id.idiag_sport);
            s.connected = m->id.idiag_dport != 0;
            if (s.connected)
                s.remote = ip_port(m->idiag_family, m->id.idiag_dst, m->id.idiag_dport);
            s.cookie = uint64_t(m->id.idiag_cookie[0]) | uint64_t(m->id.idiag_cookie[1]) << 32;
            out.push_back(s);
        }
    }
    ::close(fd);
}

}  // namespace

std::vector<udp_sock> dump_udp_sockets() {
    std::vector<udp_sock> out;
    dump_family(AF_INET, out);
    dump_family(AF_INET6, out);
    return out;
}

std::vector<std::string> duplicate_tuples(const std::vector<udp_sock>& socks) {
    // Distinct sockets (cookies) per tuple: a dump taken while sockets connect elsewhere may
    // meet one socket twice, as it moves between hash chains.
    std::map<std::string, std::set<uint64_t>> n;
    for (const auto& s : socks)
        if (s.connected) n[s.local + "->" + s.remote].insert(s.cookie);
    std::vector<std::string> dup;
    for (auto& [k, v] : n)
        if (v.size() > 1) dup.push_back(k + " x" + std::to_string(v.size()));
    return dup;
}

int ring_batch(int fd) {
    int a = 0, b = 0;
    cx::detail::sock_ops ops(fd, cx::detail::sock_ops::mode::each);
    ops.get(SOL_SOCKET, SO_REUSEADDR, &a, sizeof a);
    ops.get(SOL_SOCKET, SO_REUSEPORT, &b, sizeof b);
    ops.run();
    EXPECT_EQ(ops.error(0), 0);
    EXPECT_EQ(ops.error(1), 0);
    return ops.in_ring();
}

bool warm_thread_ring() {
    int fd = udp_socket(AF_INET);
    int in_ring = 0;
    for (unsigned i = 0; i <= cx::detail::sock_ops::kCallsBeforeRing; ++i) in_ring = ring_batch(fd);
    ::close(fd);
    return in_ring == 2;
}

}  // namespace cxtest
