// route_policy_test.cpp - with no source given, connectx() and connectx_source(3) pick the source
// connect(2) picks, also where policy rules select on what connect(2) asks the routing table:
// protocol, source and destination port, DSCP (IP_TOS), the socket's owner, its mark. And a
// scoped multicast destination keeps its scope.
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/fsuid.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <string>

#include "support/netns.hpp"
#include "support/rtnl.hpp"
#include "support/udp_util.hpp"

namespace {

using cxtest::v4;

// How a test socket is made before either call: options set on it, and its owner.
struct socket_setup {
    int type = SOCK_DGRAM;
    int family = AF_INET;
    int tos = 0;
    unsigned mark = 0;
    int uid = -1;  // made with this fsuid (the socket's owner), -1 = ours
};

int make_socket(const socket_setup& s) {
    if (s.uid >= 0) setfsuid(uid_t(s.uid));
    int fd = ::socket(s.family, s.type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s.uid >= 0) setfsuid(0);
    EXPECT_GE(fd, 0) << strerror(errno);
    if (s.tos) {
        EXPECT_EQ(setsockopt(fd, IPPROTO_IP, IP_TOS, &s.tos, sizeof s.tos), 0);
    }
    if (s.mark) {
        EXPECT_EQ(setsockopt(fd, SOL_SOCKET, SO_MARK, &s.mark, sizeof s.mark), 0);
    }
    return fd;
}

std::string ip_of(const sockaddr_storage& ss) {
    auto a = cx::address::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss), sizeof ss);
    return a ? a->ip_string() : "?";
}

// The source connect(2) gives, or the errno.
std::string plain_source(const socket_setup& s, const cx::address* src, const cx::address& dst) {
    int fd = make_socket(s);
    if (src) {
        EXPECT_EQ(::bind(fd, src->sa(), src->size()), 0) << strerror(errno);
    }
    std::string out;
    if (::connect(fd, dst.sa(), dst.size()) < 0 && errno != EINPROGRESS) {
        out = std::string("errno ") + strerror(errno);
    } else {
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
        out = ip_of(ss);
    }
    ::close(fd);
    return out;
}

// The source connectx() gives, or the errno; connectx_source(3) must agree when src is null.
std::string connectx_source_of(const socket_setup& s, const cx::address* src,
                               const cx::address& dst) {
    int fd = make_socket(s);
    if (!src) {
        sockaddr_storage ss{};
        std::string asked = connectx_source(fd, dst.sa(), dst.size(), &ss) == 0
                                ? ip_of(ss)
                                : std::string("errno ") + strerror(errno);
        int probe = make_socket(s);
        std::string plain = plain_source(s, nullptr, dst);
        ::close(probe);
        EXPECT_EQ(asked, plain) << "connectx_source(3)";
    }
    connectx_result res{};
    connectx_opts o{};
    o.size = sizeof o;
    o.result = &res;
    std::string out;
    if (connectx(fd, src ? src->sa() : nullptr, src ? src->size() : 0, dst.sa(), dst.size(), &o) <
            0 &&
        errno != EINPROGRESS)
        out = std::string("errno ") + strerror(errno);
    else
        out = ip_of(res.local);
    ::close(fd);
    return out;
}

void expect_same_source(const socket_setup& s, const cx::address* src, const cx::address& dst,
                        const std::string& want) {
    std::string plain = plain_source(s, src, dst);
    EXPECT_EQ(plain, want) << "the test's own premise: connect(2) to " << dst.to_string();
    EXPECT_EQ(connectx_source_of(s, src, dst), plain) << "toward " << dst.to_string();
}

// 198.51.100.0/24 has no route in the main table; each rule sends some traffic to a table where
// it leaves from its own address on lo.
void add_policy() {
    const char* ips[] = {"127.0.0.10", "127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14"};
    for (int t = 0; t < 5; ++t) {
        ASSERT_EQ(cxtest::add_address("lo", ips[t], 32), 0) << ips[t];
        ASSERT_EQ(cxtest::add_route_v4("198.51.100.0", 24, "lo", ips[t], 100 + t), 0);
    }
    cxtest::rule_v4 r;
    r.table = 100, r.ipproto = IPPROTO_UDP, r.dport = 53;
    ASSERT_EQ(cxtest::add_rule_v4(r), 0);
    r = {}, r.table = 101, r.ipproto = IPPROTO_TCP, r.dport = 53;
    ASSERT_EQ(cxtest::add_rule_v4(r), 0);
    r = {}, r.table = 102, r.tos = 0x10;
    ASSERT_EQ(cxtest::add_rule_v4(r), 0);
    r = {}, r.table = 103, r.uid = 4321;
    ASSERT_EQ(cxtest::add_rule_v4(r), 0);
    r = {}, r.table = 104, r.ipproto = IPPROTO_UDP, r.sport = 4444;
    ASSERT_EQ(cxtest::add_rule_v4(r), 0);
}

TEST(RoutePolicyNetns, ProtocolAndPortRulesPickTheSourceConnectPicks) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        add_policy();
        socket_setup udp, tcp;
        tcp.type = SOCK_STREAM;
        expect_same_source(udp, nullptr, v4("198.51.100.1:53"), "127.0.0.10");
        expect_same_source(tcp, nullptr, v4("198.51.100.1:53"), "127.0.0.11");
        expect_same_source(udp, nullptr, v4("198.51.100.1:54"),
                           std::string("errno ") + strerror(ENETUNREACH));
        // A fixed source port is part of the question too (the address stays open).
        auto any_4444 = v4("0.0.0.0:4444");
        expect_same_source(udp, &any_4444, v4("198.51.100.1:99"), "127.0.0.14");
    });
}

TEST(RoutePolicyNetns, DscpOwnerAndMarkRulesPickTheSourceConnectPicks) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        add_policy();
        socket_setup tos;
        tos.tos = 0x10;
        expect_same_source(tos, nullptr, v4("198.51.100.1:99"), "127.0.0.12");
        socket_setup owner;
        owner.uid = 4321;
        expect_same_source(owner, nullptr, v4("198.51.100.1:99"), "127.0.0.13");
        // The mark is asked too, and answers change when the rules do: the cache follows.
        cxtest::rule_v4 r;
        r.table = 100, r.fwmark = 9;
        ASSERT_EQ(cxtest::add_rule_v4(r), 0);
        socket_setup marked;
        marked.mark = 9;
        expect_same_source(marked, nullptr, v4("198.51.100.1:99"), "127.0.0.10");
    });
}

TEST(RoutePolicyNetns, ConnectxSourceRefusesWhatConnectxRefuses) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        int fd = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_storage ss{};
        auto mapped = v4("[::ffff:127.0.1.1]:53");
        ASSERT_EQ(connectx_source(fd, mapped.sa(), mapped.size(), &ss), 0) << strerror(errno);
        EXPECT_EQ(ip_of(ss), "::ffff:127.0.0.1");
        auto any = v4("[::ffff:0.0.0.0]:53");
        EXPECT_EQ(connectx_source(fd, any.sa(), any.size(), &ss), -1);
        EXPECT_EQ(errno, EINVAL) << "a wildcard destination";
        EXPECT_EQ(connectx_source(fd, mapped.sa(), mapped.size(), nullptr), -1);
        EXPECT_EQ(errno, EINVAL);
        ::close(fd);
        EXPECT_EQ(connectx_source(fd, mapped.sa(), mapped.size(), &ss), -1);
        EXPECT_EQ(errno, EBADF);
        auto r = cx::source_for(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), v4("192.0.2.9:53"));
        EXPECT_EQ(r.error().value(), ENETUNREACH);
    });
}

TEST(RoutePolicyNetns, ScopedMulticastDestinationKeepsItsScope) {
    CXTEST_REQUIRE_NETNS();
    cxtest::netns_options opt;
    opt.dummy = true;
    cxtest::run_in_netns(opt, [] {
        auto group = v4("[ff02::1%dummy0]:5000");
        int plain = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ASSERT_EQ(::connect(plain, group.sa(), group.size()), 0) << strerror(errno);
        ::close(plain);
        int fd = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        connectx_result res{};
        connectx_opts o{};
        o.size = sizeof o;
        o.result = &res;
        ASSERT_EQ(connectx(fd, nullptr, 0, group.sa(), group.size(), &o), 0) << strerror(errno);
        auto local = cx::address::from_sockaddr(reinterpret_cast<sockaddr*>(&res.local),
                                                sizeof res.local);
        ASSERT_TRUE(local);
        EXPECT_TRUE(local->is_link_local()) << local->to_string();
        EXPECT_EQ(local->scope_id(), if_nametoindex("dummy0"));
        int dev = 0;
        socklen_t len = sizeof dev;
        getsockopt(fd, SOL_SOCKET, SO_BINDTOIFINDEX, &dev, &len);
        EXPECT_EQ(unsigned(dev), if_nametoindex("dummy0"));
        ::close(fd);
        // Without a scope the group names no link: refused like an unscoped link-local address.
        auto unscoped = v4("[ff02::1]:5000");
        fd = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        EXPECT_EQ(connectx(fd, nullptr, 0, unscoped.sa(), unscoped.size(), nullptr), -1);
        EXPECT_EQ(errno, EINVAL);
        ::close(fd);
    });
}

}  // namespace
