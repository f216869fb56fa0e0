// udp_connect_test.cpp - the UDP path on the real kernel, each test in a private namespace: the
// article's UDP rows (plain connect's ceiling, connectx's destinations x range), taken 4-tuples,
// unconnected and wildcard binders, reserved ports, no overshadowing of plain SO_REUSEADDR
// sockets, IPv6, link-local, IPv4-mapped tuples, sysctl changes between calls, clean failures.
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/netns.hpp"
#include "support/udp_util.hpp"

namespace {

using cxtest::dst_v4;
using cxtest::dst_v6;
using cxtest::udp_connectx;
using cxtest::udp_socket;
using cxtest::v4;

constexpr uint16_t kPort = 5353;

struct fds {
    std::vector<int> v;
    ~fds() {
        for (int fd : v) ::close(fd);
    }
    void add(int fd) { v.push_back(fd); }
};

connectx_opts with_result(connectx_result& res) {
    connectx_opts o{};
    o.size = sizeof o;
    o.result = &res;
    return o;
}

// Opens sockets with `open_one(fd, i)` (0 or errno) until one fails; returns {count, errno}.
template <class F>
std::pair<int, int> fill(int family, F open_one, fds& keep, int limit) {
    for (int i = 0; i < limit; ++i) {
        int fd = udp_socket(family);
        if (int e = open_one(fd, i)) {
            ::close(fd);
            return {i, e};
        }
        keep.add(fd);
    }
    return {limit, 0};
}

// A program that does not use connectx: SO_REUSEADDR, bind to 127.0.0.1, connect to `dst`, on
// every `step`-th port of the namespace's range (40000-40063).
void hold_plain(fds& out, const cx::address& dst, int step) {
    for (int p = 40000; p < 40064; p += step) {
        int fd = cxtest::udp_bound(v4(("127.0.0.1:" + std::to_string(p)).c_str()), true);
        out.add(fd);
        ASSERT_EQ(::connect(fd, dst.sa(), dst.size()), 0);
    }
}

// The socket is bound to device `ifindex`, on one of the odd ports hold_plain(..., 2) left.
void expect_on_device_and_odd_port(int fd, int ifindex) {
    int dev = 0;
    socklen_t len = sizeof dev;
    getsockopt(fd, SOL_SOCKET, SO_BINDTOIFINDEX, &dev, &len);
    EXPECT_EQ(dev, ifindex);
    EXPECT_EQ(cxtest::local_port_of(fd) % 2, 1);
}

void expect_no_duplicates() {
    auto dup = cxtest::duplicate_tuples(cxtest::dump_udp_sockets());
    EXPECT_TRUE(dup.empty()) << "duplicate 4-tuple: " << dup.front();
}

TEST(UdpConnectxNetns, PlainConnectStopsAtRangeWithEagain) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        fds keep;
        auto [n, err] = fill(
            AF_INET,
            [](int fd, int i) {
                auto dst = dst_v4(i % 4, kPort);
                return ::connect(fd, dst.sa(), dst.size()) < 0 ? errno : 0;
            },
            keep, 1000);
        EXPECT_EQ(n, 64);
        EXPECT_EQ(err, EAGAIN);
    });
}

TEST(UdpConnectxNetns, SourceIpReachesRangeTimesDestinations) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        fds keep;
        auto src = v4("127.0.0.1");
        connectx_result res{};
        auto opts = with_result(res);
        auto [n, err] = fill(
            AF_INET,
            [&](int fd, int i) {
                int e = udp_connectx(fd, &src, dst_v4(std::min(i / 64, 3), kPort), &opts);
                if (e == 0) {
                    // The first destination finds every port free: bound alone, no lookup. The
                    // others share ports held toward it: the lock, and a lookup at least.
                    if (i < 64) {
                        EXPECT_EQ(res.technique, CONNECTX_TECH_UDP_ALONE) << i;
                        EXPECT_EQ(res.lookups, 0u) << i;
                    } else {
                        EXPECT_EQ(res.technique, CONNECTX_TECH_UDP_LOCK) << i;
                        EXPECT_GE(res.lookups, 1u) << i;
                    }
                    EXPECT_EQ(cxtest::reuseaddr_of(fd), 1) << "port left locked";
                }
                return e;
            },
            keep, 1000);
        EXPECT_EQ(n, 256);
        EXPECT_EQ(err, EAGAIN);
        expect_no_duplicates();
    });
}

TEST(UdpConnectxNetns, WildcardSourceUsesRouteSourceAndReachesRangeTimesDestinations) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        fds keep;
        connectx_result res{};
        auto opts = with_result(res);
        auto [n, err] = fill(
            AF_INET,
            [&](int fd, int i) {
                int e = udp_connectx(fd, nullptr, dst_v4(i % 4, kPort), &opts);
                if (e == 0) {
                    auto local = cx::address::from_sockaddr(reinterpret_cast<sockaddr*>(&res.local),
                                                            sizeof res.local);
                    EXPECT_TRUE(local && local->ip_string() == "127.0.0.1")
                        << (local ? local->to_string() : "?");
                }
                return e;
            },
            keep, 1000);
        EXPECT_EQ(n, 256);
        EXPECT_EQ(err, EAGAIN);
        expect_no_duplicates();
    });
}

TEST(UdpConnectxNetns, TakenFourTupleIsRefusedBeforeTouchingTheSocket) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        auto src = v4("127.0.0.1:40010");
        auto dst = dst_v4(0, kPort);
        int a = udp_socket(AF_INET), b = udp_socket(AF_INET);
        ASSERT_EQ(udp_connectx(a, &src, dst), 0);
        EXPECT_EQ(udp_connectx(b, &src, dst), EADDRINUSE);
        EXPECT_EQ(cxtest::local_port_of(b), 0) << "refused before bind";
        EXPECT_EQ(cxtest::reuseaddr_of(b), 0);
        // The same local port toward another destination is fine.
        int c = udp_socket(AF_INET);
        EXPECT_EQ(udp_connectx(c, &src, dst_v4(1, kPort)), 0);
        expect_no_duplicates();
        ::close(a), ::close(b), ::close(c);
    });
}

TEST(UdpConnectxNetns, ExplicitPortRespectsUnconnectedAndWildcardBinders) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        auto dst = dst_v4(0, kPort);
        struct binder {
            const char* at;
            bool reuse;
        } binders[] = {{"127.0.0.1:40020", false},
                       {"127.0.0.1:40021", true},
                       {"0.0.0.0:40022", false},
                       {"0.0.0.0:40023", true}};
        for (auto [at, reuse] : binders) {
            int holder = cxtest::udp_bound(v4(at), reuse);
            auto src = v4(("127.0.0.1:" + std::string(strchr(at, ':') + 1)).c_str());
            int fd = udp_socket(AF_INET);
            EXPECT_EQ(udp_connectx(fd, &src, dst), EADDRINUSE) << at << " reuse=" << reuse;
            EXPECT_FALSE(cxtest::is_connected(fd));
            EXPECT_NE(cxtest::reuseaddr_of(fd) == 0 && cxtest::local_port_of(fd) != 0, true)
                << "left holding the lock";
            ::close(fd), ::close(holder);
        }
        // A dual-stack [::]:port binder receives IPv4 too.
        int holder = cxtest::udp_bound(v4("[::]:40024"));
        auto src = v4("127.0.0.1:40024");
        int fd = udp_socket(AF_INET);
        EXPECT_EQ(udp_connectx(fd, &src, dst), EADDRINUSE);
        ::close(fd), ::close(holder);
    });
}

TEST(UdpConnectxNetns, SearchSkipsPortsOfUnconnectedAndWildcardBinders) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        fds keep, holders;
        std::set<uint16_t> held;
        for (uint16_t p = 40000; p < 40064; p += 2) {  // half the range, without SO_REUSEADDR
            const char* ip = p % 4 ? "127.0.0.1" : "0.0.0.0";
            holders.add(cxtest::udp_bound(v4((std::string(ip) + ":" + std::to_string(p)).c_str())));
            held.insert(p);
        }
        auto src = v4("127.0.0.1");
        auto [n, err] = fill(
            AF_INET,
            [&](int fd, int) {
                int e = udp_connectx(fd, &src, dst_v4(0, kPort));
                if (e == 0) {
                    EXPECT_EQ(held.count(cxtest::local_port_of(fd)), 0u);
                }
                return e;
            },
            keep, 1000);
        EXPECT_EQ(n, 32);
        EXPECT_EQ(err, EAGAIN);
    });
}

TEST(UdpConnectxNetns, ReservedPortsLeaveExactlyFiveOfRangeTenToTwentyOne) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        ASSERT_EQ(cxtest::write_sysctl("net/ipv4/ip_unprivileged_port_start", "0"), 0);
        ASSERT_EQ(cxtest::write_sysctl("net/ipv4/ip_local_port_range", "10 21"), 0);
        ASSERT_EQ(cxtest::write_sysctl("net/ipv4/ip_local_reserved_ports", "11,14-18,19"), 0);
        fds keep;
        std::set<uint16_t> ports;
        auto src = v4("127.0.0.1");
        auto [n, err] = fill(
            AF_INET,
            [&](int fd, int) {
                int e = udp_connectx(fd, &src, dst_v4(0, kPort));
                if (e == 0) ports.insert(cxtest::local_port_of(fd));
                return e;
            },
            keep, 100);
        EXPECT_EQ(n, 5);
        EXPECT_EQ(err, EAGAIN);
        EXPECT_EQ(ports, (std::set<uint16_t>{10, 12, 13, 20, 21}));
    });
}

TEST(UdpConnectxNetns, PlainReuseaddrSocketIsNeverOvershadowed) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        // A program that does not use connectx: SO_REUSEADDR, bind, connect, on every port.
        fds plain, keep;
        auto dst = dst_v4(0, kPort);
        ASSERT_NO_FATAL_FAILURE(hold_plain(plain, dst, 1));
        auto src = v4("127.0.0.1");
        int fd = udp_socket(AF_INET);
        EXPECT_EQ(udp_connectx(fd, &src, dst), EAGAIN);
        EXPECT_EQ(cxtest::local_port_of(fd), 0);
        EXPECT_EQ(cxtest::reuseaddr_of(fd), 0);
        ::close(fd);
        auto taken = v4("127.0.0.1:40007");
        fd = udp_socket(AF_INET);
        EXPECT_EQ(udp_connectx(fd, &taken, dst), EADDRINUSE);
        ::close(fd);
        // The same port from the wildcard address: the check is on the address the route picks.
        auto wildcard_taken = v4("0.0.0.0:40008");
        fd = udp_socket(AF_INET);
        EXPECT_EQ(udp_connectx(fd, &wildcard_taken, dst), EADDRINUSE);
        EXPECT_EQ(cxtest::local_port_of(fd), 0);
        ::close(fd);
        // Toward another destination every port is free again.
        auto [n, err] = fill(
            AF_INET, [&](int s, int) { return udp_connectx(s, &src, dst_v4(1, kPort)); }, keep,
            1000);
        EXPECT_EQ(n, 64);
        EXPECT_EQ(err, EAGAIN);
        expect_no_duplicates();
    });
}

TEST(UdpConnectxNetns, BoundDeviceSurvivesPortsGivenBackDuringTheSearch) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        // Half the ports are held toward dst by plain SO_REUSEADDR sockets: the search binds some
        // of them, loses the lookup, gives them back (connect(AF_UNSPEC), which also clears the
        // bound device) and must bind the device again before the next candidate.
        fds plain, keep;
        auto dst = dst_v4(0, kPort);
        ASSERT_NO_FATAL_FAILURE(hold_plain(plain, dst, 2));
        unsigned lo = if_nametoindex("lo");
        connectx_opts opts{};
        opts.size = sizeof opts;
        opts.ifindex = int(lo);
        auto src = v4("127.0.0.1");
        auto [n, err] = fill(
            AF_INET,
            [&](int fd, int) {
                int e = udp_connectx(fd, &src, dst, &opts);
                if (e == 0) expect_on_device_and_odd_port(fd, int(lo));
                return e;
            },
            keep, 1000);
        EXPECT_EQ(n, 32);
        EXPECT_EQ(err, EAGAIN);
        expect_no_duplicates();
    });
}

// The same with the device bound by the caller (SO_BINDTOIFINDEX) rather than asked for: the
// search reads it only when it must, and must still bind it again after giving a port back.
TEST(UdpConnectxNetns, CallersBoundDeviceSurvivesPortsGivenBack) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        fds plain, keep;
        auto dst = dst_v4(0, kPort);
        ASSERT_NO_FATAL_FAILURE(hold_plain(plain, dst, 2));
        int lo = int(if_nametoindex("lo"));
        auto src = v4("127.0.0.1");
        auto [n, err] = fill(
            AF_INET,
            [&](int fd, int) {
                EXPECT_EQ(setsockopt(fd, SOL_SOCKET, SO_BINDTOIFINDEX, &lo, sizeof lo), 0);
                int e = udp_connectx(fd, &src, dst);
                if (e == 0) expect_on_device_and_odd_port(fd, lo);
                return e;
            },
            keep, 1000);
        EXPECT_EQ(n, 32);
        EXPECT_EQ(err, EAGAIN);
        expect_no_duplicates();
    });
}

// connectx_result.local is what getsockname says, byte for byte, in every case (the UDP path
// reports it without asking the kernel).
TEST(UdpConnectxNetns, ResultLocalIsWhatGetsocknameSays) {
    CXTEST_REQUIRE_NETNS();
    cxtest::netns_options opt;
    opt.dummy = true;
    cxtest::run_in_netns(opt, [] {
        std::string scope = "%" + std::to_string(if_nametoindex("dummy0"));
        auto v6src = v4("[2001:db8::1]:0");
        reinterpret_cast<sockaddr_in6*>(v6src.sa())->sin6_flowinfo = htonl(0x12345);
        struct {
            int family;
            const char* src;  // nullptr: wildcard
            cx::address dst;
        } cases[] = {
            {AF_INET, "127.0.0.1", dst_v4(0, kPort)},
            // Another destination: the search above may have picked port 40007 toward dst 0.
            {AF_INET, "127.0.0.1:40007", dst_v4(2, kPort)},
            {AF_INET, nullptr, dst_v4(1, kPort)},
            {AF_INET6, "2001:db8::1", dst_v6(0, kPort)},
            {AF_INET6, nullptr, dst_v6(1, kPort)},
            {AF_INET6, "[::ffff:127.0.0.1]:0", v4("[::ffff:127.0.1.2]:5353")},
            {AF_INET6, nullptr, v4(("[fe80::2" + scope + "]:5353").c_str())},
        };
        fds keep;
        for (const auto& c : cases) {
            int fd = udp_socket(c.family);
            keep.add(fd);
            connectx_result res{};
            auto opts = with_result(res);
            auto src = c.src ? v4(c.src) : cx::address{};
            ASSERT_EQ(udp_connectx(fd, c.src ? &src : nullptr, c.dst, &opts), 0)
                << (c.src ? c.src : "*") << " -> " << c.dst.to_string();
            sockaddr_storage want{};
            socklen_t len = sizeof want;
            ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&want), &len), 0);
            EXPECT_EQ(std::memcmp(&want, &res.local, sizeof want), 0)
                << (c.src ? c.src : "*") << " -> " << c.dst.to_string();
        }
        int fd = udp_socket(AF_INET6);  // a flow label given with the source is not reported
        keep.add(fd);
        connectx_result res{};
        auto opts = with_result(res);
        ASSERT_EQ(udp_connectx(fd, &v6src, dst_v6(2, kPort), &opts), 0);
        sockaddr_storage want{};
        socklen_t len = sizeof want;
        ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&want), &len), 0);
        EXPECT_EQ(std::memcmp(&want, &res.local, sizeof want), 0);
    });
}

TEST(UdpConnectxNetns, Ipv6SourceIpAndWildcardReachRange) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        fds keep;
        // The kernel's own choice of source toward the destination (a local address: itself).
        int probe = udp_socket(AF_INET6);
        auto dst0 = dst_v6(0, kPort);
        ASSERT_EQ(::connect(probe, dst0.sa(), dst0.size()), 0);
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        ASSERT_EQ(getsockname(probe, reinterpret_cast<sockaddr*>(&ss), &len), 0);
        auto src = *cx::address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
        src.set_port(0);
        ::close(probe);
        connectx_result res{};
        auto opts = with_result(res);
        auto [n, err] = fill(
            AF_INET6,
            [&](int fd, int i) {
                int e = udp_connectx(fd, i % 2 ? &src : nullptr, dst0, &opts);
                if (e == 0) {
                    auto local = cx::address::from_sockaddr(reinterpret_cast<sockaddr*>(&res.local),
                                                            sizeof res.local);
                    EXPECT_EQ(local->ip_string(), src.ip_string()) << "route source = kernel's";
                }
                return e;
            },
            keep, 1000);
        EXPECT_EQ(n, 64);
        EXPECT_EQ(err, EAGAIN);
        auto taken = v4("[2001:db8::1]:40001");
        int a = udp_socket(AF_INET6), b = udp_socket(AF_INET6);
        EXPECT_EQ(udp_connectx(a, &taken, dst_v6(1, kPort)), 0);
        EXPECT_EQ(udp_connectx(b, &taken, dst_v6(1, kPort)), EADDRINUSE);
        expect_no_duplicates();
        ::close(a), ::close(b);
    });
}

TEST(UdpConnectxNetns, LinkLocalWithScope) {
    CXTEST_REQUIRE_NETNS();
    cxtest::netns_options opt;
    opt.dummy = true;
    cxtest::run_in_netns(opt, [] {
        unsigned idx = if_nametoindex("dummy0");
        ASSERT_NE(idx, 0u);
        std::string scope = "%" + std::to_string(idx);
        auto dst = v4(("[fe80::2" + scope + "]:5353").c_str());
        // Outside the range: the search below must not be able to pick it toward the same dst.
        auto src_port = v4(("[fe80::1" + scope + "]:41005").c_str());
        fds keep;
        int a = udp_socket(AF_INET6);
        connectx_result res{};
        auto opts = with_result(res);
        ASSERT_EQ(udp_connectx(a, nullptr, dst, &opts), 0);
        auto local =
            cx::address::from_sockaddr(reinterpret_cast<sockaddr*>(&res.local), sizeof res.local);
        ASSERT_TRUE(local);
        EXPECT_TRUE(local->is_link_local()) << local->to_string();
        EXPECT_EQ(local->scope_id(), idx);
        keep.add(a);
        int b = udp_socket(AF_INET6), c = udp_socket(AF_INET6);
        EXPECT_EQ(udp_connectx(b, &src_port, dst), 0);
        EXPECT_EQ(udp_connectx(c, &src_port, dst), EADDRINUSE);
        keep.add(b), keep.add(c);
        expect_no_duplicates();
    });
}

TEST(UdpConnectxNetns, MappedDuplicatesRefusedDistinctMappedAllowed) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        auto src4 = v4("127.0.0.1:40030");
        auto srcm = v4("[::ffff:127.0.0.1]:40030");
        auto dstm = v4("[::ffff:127.0.1.1]:5353");
        auto dstm2 = v4("[::ffff:127.0.1.2]:5353");
        int a = udp_socket(AF_INET), b = udp_socket(AF_INET6), c = udp_socket(AF_INET6),
            d = udp_socket(AF_INET6);
        ASSERT_EQ(udp_connectx(a, &src4, dst_v4(0, kPort)), 0);
        EXPECT_EQ(udp_connectx(b, &srcm, dstm), EADDRINUSE) << "mapped twin of an IPv4 tuple";
        EXPECT_EQ(udp_connectx(c, &srcm, dstm2), 0) << "distinct mapped tuple";
        EXPECT_EQ(udp_connectx(d, &srcm, dstm2), EADDRINUSE) << "mapped twin of a mapped tuple";
        // Search on a dual-stack socket toward a mapped destination stops at the range too.
        fds keep;
        auto [n, err] = fill(
            AF_INET6, [&](int fd, int) { return udp_connectx(fd, nullptr, dstm); }, keep, 1000);
        EXPECT_EQ(n, 63);  // 40030 is held toward it by socket a
        EXPECT_EQ(err, EAGAIN);
        expect_no_duplicates();
        ::close(a), ::close(b), ::close(c), ::close(d);
    });
}

TEST(UdpConnectxNetns, SysctlChangesAreHonouredOnTheNextCall) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        auto src = v4("127.0.0.1");
        int a = udp_socket(AF_INET);
        ASSERT_EQ(udp_connectx(a, &src, dst_v4(0, kPort)), 0);
        ASSERT_EQ(cxtest::write_sysctl("net/ipv4/ip_local_port_range", "41000 41001"), 0);
        ASSERT_EQ(cxtest::write_sysctl("net/ipv4/ip_local_reserved_ports", "41000"), 0);
        int b = udp_socket(AF_INET), c = udp_socket(AF_INET);
        EXPECT_EQ(udp_connectx(b, &src, dst_v4(0, kPort)), 0);
        EXPECT_EQ(cxtest::local_port_of(b), 41001);
        EXPECT_EQ(udp_connectx(c, &src, dst_v4(0, kPort)), EAGAIN);
        ASSERT_EQ(cxtest::write_sysctl("net/ipv4/ip_local_reserved_ports", ""), 0);
        int d = udp_socket(AF_INET);
        EXPECT_EQ(udp_connectx(d, &src, dst_v4(0, kPort)), 0);
        EXPECT_EQ(cxtest::local_port_of(d), 41000);
        ::close(a), ::close(b), ::close(c), ::close(d);
    });
}

TEST(UdpConnectxNetns, PortsClosedRightAfterExhaustionAreFoundAgain) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        auto src = v4("127.0.0.1");
        for (int round = 0; round < 3; ++round) {
            fds keep;
            auto [n, err] = fill(
                AF_INET, [&](int fd, int) { return udp_connectx(fd, &src, dst_v4(0, kPort)); },
                keep, 1000);
            EXPECT_EQ(n, 64) << "round " << round << ": all closed ports usable again at once";
            EXPECT_EQ(err, EAGAIN);
        }
    });
}

TEST(UdpConnectxNetns, PerCallAndSocketRangesNarrowTheSearch) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        auto src = v4("127.0.0.1");
        connectx_opts opts{};
        opts.size = sizeof opts;
        opts.port_lo = 40010;
        opts.port_hi = 40013;
        fds keep;
        auto [n, err] = fill(
            AF_INET,
            [&](int fd, int) {
                int e = udp_connectx(fd, &src, dst_v4(0, kPort), &opts);
                if (e == 0) {
                    uint16_t p = cxtest::local_port_of(fd);
                    EXPECT_TRUE(p >= 40010 && p <= 40013) << p;
                }
                return e;
            },
            keep, 100);
        EXPECT_EQ(n, 4);
        EXPECT_EQ(err, EAGAIN);
        // The socket's own IP_LOCAL_PORT_RANGE narrows it too, and is left as it was.
        int fd = udp_socket(AF_INET);
        uint32_t range = uint32_t(40051) << 16 | 40050;
        ASSERT_EQ(setsockopt(fd, IPPROTO_IP, 51, &range, sizeof range), 0);
        ASSERT_EQ(udp_connectx(fd, &src, dst_v4(1, kPort)), 0);
        uint16_t p = cxtest::local_port_of(fd);
        EXPECT_TRUE(p == 40050 || p == 40051) << p;
        uint32_t after = 0;
        socklen_t len = sizeof after;
        ASSERT_EQ(getsockopt(fd, IPPROTO_IP, 51, &after, &len), 0);
        EXPECT_EQ(after, range);
        keep.add(fd);
    });
}

TEST(UdpConnectxNetns, FailuresLeaveNoLockAndNoAssociation) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        // Exhaust toward one destination, then check the failed socket and the fd count.
        fds keep;
        auto src = v4("127.0.0.1");
        int before = cxtest::open_fd_count();
        auto [n, err] = fill(
            AF_INET, [&](int fd, int) { return udp_connectx(fd, &src, dst_v4(0, kPort)); }, keep,
            1000);
        ASSERT_EQ(err, EAGAIN);
        int fd = udp_socket(AF_INET);
        int one = 1;
        ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), 0);
        EXPECT_EQ(udp_connectx(fd, &src, dst_v4(0, kPort)), EAGAIN);
        EXPECT_EQ(cxtest::reuseaddr_of(fd), 1) << "caller's SO_REUSEADDR restored";
        EXPECT_EQ(cxtest::local_port_of(fd), 0);
        EXPECT_FALSE(cxtest::is_connected(fd));
        ::close(fd);
        // Unreachable destination: the route lookup fails and nothing is bound.
        fd = udp_socket(AF_INET);
        auto nowhere = v4("192.0.2.1:53");
        EXPECT_EQ(udp_connectx(fd, nullptr, nowhere), ENETUNREACH);
        EXPECT_EQ(cxtest::local_port_of(fd), 0);
        ::close(fd);
        // Netlink sockets are pooled, not leaked per call: n sockets + a few pooled.
        EXPECT_LE(cxtest::open_fd_count() - before, n + 6);
        // Every socket that failed released its port: plain binds still see our ports free for
        // other destinations, and no socket is left unconnected holding a lock.
        for (const auto& s : cxtest::dump_udp_sockets()) EXPECT_TRUE(s.connected) << s.local;
    });
}

TEST(UdpConnectxNetns, AloneWhenThePortIsFreeLockedWhenItIsShared) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        connectx_result res{};
        auto opts = with_result(res);
        auto src = v4("127.0.0.1:41000");
        // A free port: bound without SO_REUSEADDR, which no other socket can share, so no lookup.
        int a = udp_socket(AF_INET);
        ASSERT_EQ(udp_connectx(a, &src, dst_v4(0, kPort), &opts), 0);
        EXPECT_EQ(res.technique, CONNECTX_TECH_UDP_ALONE);
        EXPECT_EQ(res.lookups, 0u);
        EXPECT_EQ(cxtest::reuseaddr_of(a), 1) << "others may share the port now";
        // The same port toward another destination: shared, so the lock and its lookups.
        int b = udp_socket(AF_INET);
        ASSERT_EQ(udp_connectx(b, &src, dst_v4(1, kPort), &opts), 0);
        EXPECT_EQ(res.technique, CONNECTX_TECH_UDP_LOCK);
        EXPECT_GE(res.lookups, 2u) << "pre-check and locked lookup";
        EXPECT_EQ(cxtest::reuseaddr_of(b), 1);
        // Toward the first destination again: taken, refused before the socket is touched.
        int c = udp_socket(AF_INET);
        EXPECT_EQ(udp_connectx(c, &src, dst_v4(0, kPort), &opts), EADDRINUSE);
        EXPECT_EQ(cxtest::local_port_of(c), 0);
        EXPECT_EQ(cxtest::reuseaddr_of(c), 0);
        // A search whose connect() fails after the bind alone gives the port back and leaves
        // SO_REUSEADDR as it was.
        int d = udp_socket(AF_INET);
        auto ip = v4("127.0.0.1");
        EXPECT_EQ(udp_connectx(d, &ip, v4("192.0.2.1:53"), &opts), ENETUNREACH);
        EXPECT_EQ(res.technique, CONNECTX_TECH_UDP_ALONE);
        EXPECT_EQ(cxtest::local_port_of(d), 0);
        EXPECT_EQ(cxtest::reuseaddr_of(d), 0);
        EXPECT_FALSE(cxtest::is_connected(d));
        // A fixed port stays bound after a failed connect, as after bind(2), with SO_REUSEADDR
        // as the caller had it: the caller's own bind, not a lock of connectx's.
        int e = udp_socket(AF_INET);
        auto fixed = v4("127.0.0.1:41001");
        EXPECT_EQ(udp_connectx(e, &fixed, v4("192.0.2.1:53"), &opts), ENETUNREACH);
        EXPECT_EQ(cxtest::local_port_of(e), 41001);
        EXPECT_EQ(cxtest::reuseaddr_of(e), 0) << "SO_REUSEADDR changed";
        EXPECT_FALSE(cxtest::is_connected(e));
        expect_no_duplicates();
        ::close(a), ::close(b), ::close(c), ::close(d), ::close(e);
    });
}

TEST(UdpConnectxNetns, ReuseportIsRefusedBeforeTouchingTheSocket) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        auto ip = v4("127.0.0.1"), fixed = v4("127.0.0.1:41002");
        const cx::address* srcs[] = {&ip, &fixed, nullptr};
        for (const cx::address* src : srcs) {
            int fd = udp_socket(AF_INET);
            int one = 1;
            ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one), 0);
            EXPECT_EQ(udp_connectx(fd, src, dst_v4(0, kPort)), EINVAL);
            EXPECT_EQ(cxtest::local_port_of(fd), 0);
            EXPECT_EQ(cxtest::reuseaddr_of(fd), 0);
            EXPECT_FALSE(cxtest::is_connected(fd));
            ::close(fd);
        }
    });
}

// After a search's bind alone fails (its port was held toward another destination), the
// namespace's searches take the lock directly for 100 ms, then try alone again.
TEST(UdpConnectxNetns, AfterABindAloneFailsSearchesTakeTheLockForAWhile) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        ASSERT_EQ(cxtest::write_sysctl("net/ipv4/ip_local_port_range", "40200 40200"), 0);
        connectx_result res{};
        auto opts = with_result(res);
        auto ip = v4("127.0.0.1");
        int holder = cxtest::udp_bound(v4("127.0.0.1:40200"), true);
        ASSERT_EQ(::connect(holder, dst_v4(2, kPort).sa(), dst_v4(2, kPort).size()), 0);
        int a = udp_socket(AF_INET);
        ASSERT_EQ(udp_connectx(a, &ip, dst_v4(0, kPort), &opts), 0);
        auto failed_at = std::chrono::steady_clock::now();
        EXPECT_EQ(res.technique, CONNECTX_TECH_UDP_LOCK) << "the only port is shared";
        ::close(a), ::close(holder);
        // The port is free now, but the namespace waits before binding alone again.
        int b = udp_socket(AF_INET);
        ASSERT_EQ(udp_connectx(b, &ip, dst_v4(0, kPort), &opts), 0);
        if (std::chrono::steady_clock::now() - failed_at < std::chrono::milliseconds(90)) {
            EXPECT_EQ(res.technique, CONNECTX_TECH_UDP_LOCK);
            EXPECT_GE(res.lookups, 1u);
        }
        ::close(b);
        std::this_thread::sleep_for(std::chrono::milliseconds(150));
        int c = udp_socket(AF_INET);
        ASSERT_EQ(udp_connectx(c, &ip, dst_v4(0, kPort), &opts), 0);
        EXPECT_EQ(res.technique, CONNECTX_TECH_UDP_ALONE);
        EXPECT_EQ(res.lookups, 0u);
        ::close(c);
    });
}

}  // namespace
