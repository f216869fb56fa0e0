// tcp_connect_test.cpp - the TCP path on the real kernel, each test in a private namespace:
// ceilings of bind-before-connect vs connectx, 4-tuple conflicts, port ranges, interfaces, IPv6,
// link-local, IPv4-mapped, non-blocking sockets.
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <vector>

#include "support/netns.hpp"
#include "support/unique_fd.hpp"

#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51
#endif

namespace {

using cxtest::dst_v4;
using cxtest::dst_v6;
using cxtest::v4;

constexpr uint16_t kPort = 8080;

// One connectx() call on a fresh TCP socket of dst's family. Keeps the socket open on success.
struct attempt {
    int fd = -1;
    int err = 0;
    connectx_result res{};
};

attempt open_tcp(const cx::address* src, const cx::address& dst, connectx_opts opts = {},
                 int extra_type = 0) {
    attempt a;
    a.fd = ::socket(dst.family(), SOCK_STREAM | SOCK_CLOEXEC | extra_type, 0);
    opts.size = sizeof opts;
    opts.result = &a.res;
    int rc = connectx(a.fd, src ? src->sa() : nullptr, src ? src->size() : 0, dst.sa(),
                      dst.size(), &opts);
    if (rc < 0) {
        a.err = errno;
        ::close(a.fd);
        a.fd = -1;
    }
    return a;
}

uint16_t local_port(const connectx_result& r) {
    auto a = cx::address::from_sockaddr(reinterpret_cast<const sockaddr*>(&r.local), sizeof r.local);
    return a ? a->port() : 0;
}

std::vector<int> listeners(int n, bool v6 = false) {
    std::vector<int> fds;
    for (int d = 0; d < n; ++d)
        fds.push_back(cxtest::tcp_listener(v6 ? dst_v6(d, kPort) : dst_v4(d, kPort)));
    return fds;
}

// Opens connections with connectx(src, dst(i)) until one fails. Returns the count and errno.
template <class Dst>
std::pair<int, int> fill(const cx::address* src, Dst dst_of, std::vector<attempt>& open,
                         connectx_opts opts = {}, int limit = 2000) {
    for (int i = 0; i < limit; ++i) {
        attempt a = open_tcp(src, dst_of(i), opts);
        if (a.err) return {i, a.err};
        open.push_back(a);
    }
    return {limit, 0};
}

bool kernel_has_local_port_range() {
    cxtest::unique_fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    uint32_t v = (40001u << 16) | 40000u;
    bool ok = setsockopt(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &v, sizeof v) == 0;
    fd.reset();
    return ok;
}

TEST(TcpConnectxNetns, BindBeforeConnectStopsAtRangeWithEaddrinuse) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        auto ls = listeners(4);
        auto src = v4("127.0.0.1:0");
        std::vector<int> fds;
        int err = 0;
        for (int i = 0; i < 1000 && !err; ++i) {
            cxtest::unique_fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
            auto dst = dst_v4(i % 4, kPort);
            if (::bind(fd, src.sa(), src.size()) < 0 || ::connect(fd, dst.sa(), dst.size()) < 0) {
                err = errno;
                fd.reset();
            } else {
                fds.push_back(fd.release());
            }
        }
        EXPECT_EQ(fds.size(), 64u) << "the range is 64 ports, whatever the destinations";
        EXPECT_EQ(err, EADDRINUSE);
    });
}

TEST(TcpConnectxNetns, SourceIpReachesRangeTimesDestinations) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        auto ls = listeners(4);
        auto src = v4("127.0.0.1");
        std::vector<attempt> open;
        auto [n, err] = fill(&src, [](int i) { return dst_v4(std::min(i / 64, 3), kPort); }, open);
        EXPECT_EQ(n, 4 * 64);
        EXPECT_EQ(err, EADDRNOTAVAIL);
        std::set<uint16_t> ports;
        for (auto& a : open) {
            EXPECT_EQ(a.res.technique, CONNECTX_TECH_BIND_NO_PORT);
            ports.insert(local_port(a.res));
        }
        EXPECT_EQ(ports.size(), 64u) << "each port is shared by the four destinations";
        EXPECT_EQ(*ports.begin(), 40000);
        EXPECT_EQ(*ports.rbegin(), 40063);
    });
}

TEST(TcpConnectxNetns, NoSourceIsPlainConnect) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        auto ls = listeners(2);
        std::vector<attempt> open;
        auto [n, err] = fill(nullptr, [](int i) { return dst_v4(std::min(i / 64, 1), kPort); }, open);
        EXPECT_EQ(n, 2 * 64);
        EXPECT_EQ(err, EADDRNOTAVAIL);
        EXPECT_EQ(open.front().res.technique, CONNECTX_TECH_CONNECT);
        auto wildcard = v4("0.0.0.0:0");  // wildcard with port 0 means the same as no source
        attempt a = open_tcp(&wildcard, dst_v4(2, kPort));
        EXPECT_EQ(a.err, ECONNREFUSED) << "no listener there: the call reached connect()";
        EXPECT_EQ(a.res.technique, CONNECTX_TECH_CONNECT);
    });
}

TEST(TcpConnectxNetns, SameFourTupleTwiceGetsEaddrnotavail) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        auto ls = listeners(2);
        auto src = v4("127.0.0.1:40010");
        attempt first = open_tcp(&src, dst_v4(0, kPort));
        ASSERT_EQ(first.err, 0) << strerror(first.err);
        EXPECT_EQ(first.res.technique, CONNECTX_TECH_REUSEADDR);
        EXPECT_EQ(local_port(first.res), 40010);
        int before = cxtest::open_fd_count();
        attempt again = open_tcp(&src, dst_v4(0, kPort));
        EXPECT_EQ(again.err, EADDRNOTAVAIL);
        EXPECT_EQ(cxtest::open_fd_count(), before);
        attempt other = open_tcp(&src, dst_v4(1, kPort));
        EXPECT_EQ(other.err, 0) << "same source IP and port toward another destination";
        EXPECT_EQ(local_port(other.res), 40010);
    });
}

TEST(TcpConnectxNetns, WildcardSourceWithFixedPort) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        auto ls = listeners(2);
        auto src = v4("0.0.0.0:40020");
        attempt a = open_tcp(&src, dst_v4(0, kPort));
        ASSERT_EQ(a.err, 0) << strerror(a.err);
        EXPECT_EQ(a.res.technique, CONNECTX_TECH_REUSEADDR);
        EXPECT_EQ(local_port(a.res), 40020);
        auto local = cx::address::from_sockaddr(reinterpret_cast<sockaddr*>(&a.res.local),
                                                sizeof a.res.local);
        EXPECT_EQ(local->ip_string(), "127.0.0.1") << "the kernel picked the source IP";
        EXPECT_EQ(open_tcp(&src, dst_v4(1, kPort)).err, 0);
        EXPECT_EQ(open_tcp(&src, dst_v4(0, kPort)).err, EADDRNOTAVAIL);
    });
}

TEST(TcpConnectxNetns, BoundUnconnectedSocketKeepsItsPort) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        auto ls = listeners(1);
        auto held = v4("127.0.0.1:40030");
        int holder = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ASSERT_EQ(::bind(holder, held.sa(), held.size()), 0);
        // An explicit request for the held port fails at bind, leaving the socket untouched.
        cxtest::unique_fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        auto dst = dst_v4(0, kPort);
        EXPECT_EQ(connectx(fd, held.sa(), held.size(), dst.sa(), dst.size(), nullptr), -1);
        EXPECT_EQ(errno, EADDRINUSE);
        int reuse = -1;
        socklen_t len = sizeof reuse;
        getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, &len);
        EXPECT_EQ(reuse, 0) << "SO_REUSEADDR restored after the failed bind";
        sockaddr_in self{};
        len = sizeof self;
        getsockname(fd, reinterpret_cast<sockaddr*>(&self), &len);
        EXPECT_EQ(self.sin_port, 0) << "still unbound";
        fd.reset();
        // Automatic choice never takes it either.
        auto src = v4("127.0.0.1");
        std::vector<attempt> open;
        auto [n, err] = fill(&src, [](int) { return dst_v4(0, kPort); }, open);
        EXPECT_EQ(n, 63);
        EXPECT_EQ(err, EADDRNOTAVAIL);
        for (auto& a : open) EXPECT_NE(local_port(a.res), 40030);
    });
}

TEST(TcpConnectxNetns, ReservedPortsAreNeverPickedAutomatically) {
    CXTEST_REQUIRE_NETNS();
    cxtest::netns_options opt;
    opt.reserved_ports = "40000-40009,40033";
    cxtest::run_in_netns(opt, [] {
        auto ls = listeners(1);
        auto src = v4("127.0.0.1");
        std::vector<attempt> open;
        auto [n, err] = fill(&src, [](int) { return dst_v4(0, kPort); }, open);
        EXPECT_EQ(n, 64 - 11);
        EXPECT_EQ(err, EADDRNOTAVAIL);
        for (auto& a : open) {
            uint16_t p = local_port(a.res);
            EXPECT_TRUE(p > 40009 && p != 40033) << p;
        }
        // With a per-call range the explicit-port search skips them too.
        connectx_opts o{};
        o.port_lo = 50000;
        o.port_hi = 50003;
        cxtest::write_sysctl("net/ipv4/ip_local_reserved_ports", "50001-50002");
        std::vector<attempt> ranged;
        auto [m, err2] = fill(&src, [](int) { return dst_v4(0, kPort); }, ranged, o);
        EXPECT_EQ(m, 2);
        EXPECT_EQ(err2, EADDRNOTAVAIL);
        for (auto& a : ranged) {
            EXPECT_EQ(a.res.technique, CONNECTX_TECH_EXPLICIT_PORTS);
            uint16_t p = local_port(a.res);
            EXPECT_TRUE(p == 50000 || p == 50003) << p;
        }
    });
}

TEST(TcpConnectxNetns, PortRangeInsideSystemRangeIsHonoured) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        auto ls = listeners(2);
        bool native = kernel_has_local_port_range();
        auto src = v4("127.0.0.1");
        connectx_opts o{};
        o.port_lo = 40010;
        o.port_hi = 40019;
        for (const cx::address* s : {static_cast<const cx::address*>(&src), static_cast<const cx::address*>(nullptr)}) {
            std::vector<attempt> open;
            int d = s ? 0 : 1;
            auto [n, err] = fill(s, [d](int) { return dst_v4(d, kPort); }, open, o);
            EXPECT_EQ(n, 10);
            EXPECT_EQ(err, EADDRNOTAVAIL);
            for (auto& a : open) {
                // Before 6.3 the kernel lacks IP_LOCAL_PORT_RANGE: the explicit-port fallback.
                EXPECT_EQ(a.res.technique, native ? CONNECTX_TECH_LOCAL_PORT_RANGE
                                                  : CONNECTX_TECH_EXPLICIT_PORTS);
                uint16_t p = local_port(a.res);
                EXPECT_TRUE(p >= 40010 && p <= 40019) << p;
            }
        }
    });
}

TEST(TcpConnectxNetns, PortRangeOutsideSystemRangeUsesExplicitPorts) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        auto ls = listeners(2);
        auto src = v4("127.0.0.1");
        connectx_opts o{};
        o.port_lo = 50000;
        o.port_hi = 50003;
        std::vector<attempt> open;
        auto [n, err] = fill(&src, [](int i) { return dst_v4(std::min(i / 4, 1), kPort); }, open, o);
        EXPECT_EQ(n, 8) << "four ports toward each of two destinations";
        EXPECT_EQ(err, EADDRNOTAVAIL);
        for (auto& a : open) {
            EXPECT_EQ(a.res.technique, CONNECTX_TECH_EXPLICIT_PORTS);
            EXPECT_GE(a.res.attempts, 1u);
        }
    });
}

TEST(TcpConnectxNetns, ExplicitPortsWithoutSourceIpMoveOnPastATakenTuple) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        auto ls = listeners(4);
        connectx_opts o{};
        o.port_lo = 50000;
        o.port_hi = 50001;
        // The search starts at a random port: four destinations, each with 50000 taken; the
        // check must look at the address the route picks, not at the wildcard.
        for (int d = 0; d < 4; ++d) {
            auto held = v4("127.0.0.1:50000");
            ASSERT_EQ(open_tcp(&held, dst_v4(d, kPort)).err, 0);
            cx::address wildcard = v4("0.0.0.0");
            attempt a = open_tcp(d % 2 ? &wildcard : nullptr, dst_v4(d, kPort), o);
            ASSERT_EQ(a.err, 0) << strerror(a.err);
            EXPECT_EQ(local_port(a.res), 50001);
            EXPECT_EQ(a.res.technique, CONNECTX_TECH_EXPLICIT_PORTS);
        }
    });
}

TEST(TcpConnectxNetns, ExplicitPortsFlagForcesTheFallback) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        auto ls = listeners(1);
        auto src = v4("127.0.0.1");
        connectx_opts o{};
        o.port_lo = 40010;
        o.port_hi = 40013;
        o.flags = CONNECTX_F_EXPLICIT_PORTS;
        std::vector<attempt> open;
        auto [n, err] = fill(&src, [](int) { return dst_v4(0, kPort); }, open, o);
        EXPECT_EQ(n, 4) << "every port of the range, even when some 4-tuples are taken first";
        EXPECT_EQ(err, EADDRNOTAVAIL);
        for (auto& a : open) EXPECT_EQ(a.res.technique, CONNECTX_TECH_EXPLICIT_PORTS);
    });
}

TEST(TcpConnectxNetns, InterfaceOption) {
    CXTEST_REQUIRE_NETNS();
    cxtest::netns_options opt;
    opt.dummy = true;
    cxtest::run_in_netns(opt, [] {
        auto ls = listeners(1);
        connectx_opts o{};
        o.ifindex = int(if_nametoindex("lo"));
        auto src = v4("127.0.0.1");
        attempt a = open_tcp(&src, dst_v4(0, kPort), o);
        EXPECT_EQ(a.err, 0) << strerror(a.err);
        int bound = 0;
        socklen_t len = sizeof bound;
        getsockopt(a.fd, SOL_SOCKET, SO_BINDTOIFINDEX, &bound, &len);
        EXPECT_EQ(bound, o.ifindex);
        EXPECT_EQ(open_tcp(nullptr, dst_v4(0, kPort), o).err, 0) << "interface without source";
        o.ifindex = int(if_nametoindex("dummy0"));
        EXPECT_EQ(open_tcp(&src, dst_v4(0, kPort), o).err, EADDRNOTAVAIL)
            << "127.0.0.1 is not on dummy0";
        o.ifindex = 9999;
        EXPECT_EQ(open_tcp(&src, dst_v4(0, kPort), o).err, ENODEV);
    });
}

TEST(TcpConnectxNetns, Ipv6SourceReachesRangeTimesDestinations) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        auto ls = listeners(2, true);
        auto src = v4(cxtest::kSrcV6);
        // A fixed port first: later, every port of the IP is held by sockets without
        // SO_REUSEADDR, and an explicit bind conflicts with those.
        auto fixed = v4("[2001:db8::1]:40040");
        EXPECT_EQ(open_tcp(&fixed, dst_v6(0, 9)).err, ECONNREFUSED);
        std::vector<attempt> open;
        auto [n, err] = fill(&src, [](int i) { return dst_v6(std::min(i / 64, 1), kPort); }, open);
        EXPECT_EQ(n, 2 * 64);
        EXPECT_EQ(err, EADDRNOTAVAIL);
    });
}

TEST(TcpConnectxNetns, LinkLocalDestinationWithScope) {
    CXTEST_REQUIRE_NETNS();
    cxtest::netns_options opt;
    opt.dummy = true;
    cxtest::run_in_netns(opt, [] {
        auto server = v4("[fe80::2%dummy0]:8080");
        int l = cxtest::tcp_listener(server);
        ASSERT_GE(l, 0);
        auto src = v4("fe80::1");  // no scope: it takes the destination's
        attempt a = open_tcp(&src, server);
        ASSERT_EQ(a.err, 0) << strerror(a.err);
        auto local = cx::address::from_sockaddr(reinterpret_cast<sockaddr*>(&a.res.local),
                                                sizeof a.res.local);
        EXPECT_EQ(local->ip_string(), "fe80::1%dummy0");
        auto unscoped = v4("[fe80::2]:8080");
        EXPECT_EQ(open_tcp(&src, unscoped).err, EINVAL) << "link-local without scope id";
        auto other_scope = v4("[fe80::1%lo]:0");
        EXPECT_EQ(open_tcp(&other_scope, server).err, EINVAL) << "scopes differ";
    });
}

TEST(TcpConnectxNetns, Ipv4MappedOnDualStackSocket) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        auto ls = listeners(1);
        auto dst = v4("[::ffff:127.0.1.1]:8080");
        auto src = v4("[::ffff:127.0.0.1]:40050");
        attempt a = open_tcp(&src, dst);
        ASSERT_EQ(a.err, 0) << strerror(a.err);
        EXPECT_EQ(local_port(a.res), 40050);
        EXPECT_EQ(open_tcp(&src, dst).err, EADDRNOTAVAIL) << "same mapped 4-tuple";
        // A v4 socket holding the same 4-tuple conflicts with the mapped one: one table.
        auto src4 = v4("127.0.0.1:40051");
        ASSERT_EQ(open_tcp(&src4, dst_v4(0, kPort)).err, 0);
        auto mapped_same = v4("[::ffff:127.0.0.1]:40051");
        EXPECT_EQ(open_tcp(&mapped_same, dst).err, EADDRNOTAVAIL);

        cxtest::unique_fd fd(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
        int one = 1;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        EXPECT_EQ(connectx(fd, nullptr, 0, dst.sa(), dst.size(), nullptr), -1);
        EXPECT_EQ(errno, EAFNOSUPPORT) << "IPV6_V6ONLY is respected";
        fd.reset();
        auto native6 = v4("2001:db8::1");
        EXPECT_EQ(open_tcp(&native6, dst).err, EAFNOSUPPORT) << "mapped dst, native source";
    });
}

TEST(TcpConnectxNetns, NonBlockingSocketReturnsEinprogressLikeConnect) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        auto ls = listeners(1);
        auto src = v4("127.0.0.1");
        attempt a = open_tcp(&src, dst_v4(0, kPort), {}, SOCK_NONBLOCK);
        // Loopback may complete at once; otherwise connect(2)'s EINPROGRESS comes through.
        ASSERT_TRUE(a.err == 0 || a.err == EINPROGRESS) << strerror(a.err);
        int fd = a.fd;
        if (a.err == EINPROGRESS) {
            // The C shim closes on failure in open_tcp: redo by hand to keep the socket.
            fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
            auto dst = dst_v4(0, kPort);
            connectx_result res{};
            connectx_opts o{};
            o.size = sizeof o;
            o.result = &res;
            int rc = connectx(fd, src.sa(), src.size(), dst.sa(), dst.size(), &o);
            ASSERT_TRUE(rc == 0 || errno == EINPROGRESS);
            EXPECT_NE(local_port(res), 0) << "the port is chosen before the handshake ends";
        }
        pollfd p{fd, POLLOUT, 0};
        ASSERT_EQ(poll(&p, 1, 5000), 1);
        int soerr = -1;
        socklen_t len = sizeof soerr;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
        EXPECT_EQ(soerr, 0);
    });
}

TEST(TcpConnectxNetns, CxxApiReportsTheConnection) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        auto ls = listeners(1);
        cxtest::unique_fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        auto c = cx::connect(fd, v4("127.0.0.1:40060"), dst_v4(0, kPort));
        ASSERT_TRUE(c) << c.error().message();
        EXPECT_EQ(c->local.to_string(), "127.0.0.1:40060");
        EXPECT_EQ(c->remote, dst_v4(0, kPort));
        EXPECT_EQ(c->technique, cx::technique::reuseaddr);
        EXPECT_EQ(cx::to_string(c->technique), "reuseaddr");
        cxtest::unique_fd fd2(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        auto again = cx::connect(fd2, v4("127.0.0.1:40060"), dst_v4(0, kPort));
        ASSERT_FALSE(again);
        EXPECT_EQ(again.error(), std::error_code(EADDRNOTAVAIL, std::system_category()));
        fd.reset();
        fd2.reset();
    });
}

}  // namespace
