// pool_test.cpp - source pools (connectx(3), "Source pools"): a 4-address pool reaches 4 x range
// x destinations for UDP and TCP with no duplicate 4-tuple and every source filled evenly; an
// exhausted pool fails with EAGAIN (UDP) or EADDRNOTAVAIL (TCP); bad pools get their exact errno
// before any side effect; the result names the source chosen; the counters and the budget agree
// with a SOCK_DIAG census after a fill.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "support/netns.hpp"
#include "support/udp_util.hpp"
#include "support/unique_fd.hpp"

namespace {

using cxtest::v4;

constexpr int kPorts = 16;
constexpr uint16_t kLo = 40000;
constexpr int kSources = 4;
constexpr int kDests = 2;

cxtest::netns_options small_range() {
    cxtest::netns_options o;
    o.port_lo = kLo;
    o.port_hi = kLo + kPorts - 1;
    o.destinations = kDests;
    return o;
}

// 127.0.0.1 .. 127.0.0.n: local through 127/8 on lo.
std::vector<sockaddr_storage> v4_pool(int n, uint32_t first = 0x7f000001u) {
    std::vector<sockaddr_storage> pool(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
        auto a = cx::address::v4(first + uint32_t(i), 0);
        std::memset(&pool[size_t(i)], 0, sizeof pool[0]);
        std::memcpy(&pool[size_t(i)], a.sa(), a.size());
    }
    return pool;
}

connectx_opts pool_opts(const std::vector<sockaddr_storage>& pool, connectx_result* res) {
    connectx_opts o{};
    o.size = sizeof o;
    o.pool = pool.data();
    o.pool_count = uint32_t(pool.size());
    o.result = res;
    return o;
}

int call(int fd, const cx::address& dst, const connectx_opts& o, const cx::address* src = nullptr) {
    return connectx(fd, src ? src->sa() : nullptr, src ? src->size() : 0, dst.sa(), dst.size(),
                    &o) == 0
               ? 0
               : errno;
}

struct held {
    std::vector<int> fds;
    ~held() {
        for (int fd : fds) ::close(fd);
    }
};

// Flows that 127.0.0.2 holds toward each destination before the pool fills: round-robin alone
// would fill an even pool evenly; with one source half full the pool must move on past it.
constexpr int kBusy = kPorts / 2;
constexpr int kPoolFlows = kSources * kPorts - kBusy;  // per destination

// Fills every destination from the pool until the pool says `full_errno`; returns the flows
// opened per (source IP, destination) as the results named them.
std::map<std::string, int> fill(int type, int full_errno, const std::vector<sockaddr_storage>& pool,
                                held& keep) {
    std::map<std::string, int> per_pair;
    for (int d = 0; d < kDests; ++d) {
        const auto dst = cxtest::dst_v4(d, 8080);
        for (int n = 0; n < kBusy; ++n) {
            int fd = cxtest::socket_for(dst, type);
            auto src = v4("127.0.0.2");
            EXPECT_EQ(connectx(fd, src.sa(), src.size(), dst.sa(), dst.size(), nullptr), 0);
            keep.fds.push_back(fd);
        }
        for (int n = 0; n < kPoolFlows + 1; ++n) {
            connectx_result res{};
            auto o = pool_opts(pool, &res);
            int fd = cxtest::socket_for(dst, type);
            int e = call(fd, dst, o);
            if (e != 0) {
                EXPECT_EQ(e, full_errno) << "flow " << n << " to " << dst.to_string();
                EXPECT_EQ(n, kPoolFlows) << "the pool ended early";
                EXPECT_FALSE(cxtest::is_connected(fd));
                EXPECT_EQ(cxtest::local_port_of(fd), 0) << "a failed call holds no port";
                ::close(fd);
                break;
            }
            keep.fds.push_back(fd);
            auto local = cx::address::from_sockaddr(reinterpret_cast<sockaddr*>(&res.local),
                                                    sizeof res.local);
            per_pair[local->ip_string() + " " + dst.to_string()]++;
        }
    }
    return per_pair;
}

// Every source's range filled toward every destination: the busy one's rest, the others' all.
void expect_full(const std::map<std::string, int>& per_pair) {
    EXPECT_EQ(per_pair.size(), size_t(kSources * kDests));
    for (const auto& [pair, n] : per_pair)
        EXPECT_EQ(n, pair.starts_with("127.0.0.2 ") ? kPorts - kBusy : kPorts) << pair;
}

TEST(PoolNetns, FourAddressUdpPoolReachesAddressesTimesRangeTimesDestinations) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns(small_range(), [] {
        held keep;
        auto pool = v4_pool(kSources);
        auto per_pair = fill(SOCK_DGRAM, EAGAIN, pool, keep);
        EXPECT_EQ(keep.fds.size(), size_t(kSources * kPorts * kDests));
        expect_full(per_pair);
        auto socks = cxtest::dump_udp_sockets();
        EXPECT_TRUE(cxtest::duplicate_tuples(socks).empty());
    });
}

TEST(PoolNetns, FourAddressTcpPoolReachesAddressesTimesRangeTimesDestinations) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns(small_range(), [] {
        held keep;
        for (int d = 0; d < kDests; ++d)
            keep.fds.push_back(cxtest::tcp_listener(cxtest::dst_v4(d, 8080)));
        auto pool = v4_pool(kSources);
        auto per_pair = fill(SOCK_STREAM, EADDRNOTAVAIL, pool, keep);
        EXPECT_EQ(keep.fds.size(), size_t(kDests + kSources * kPorts * kDests));
        expect_full(per_pair);
        // The kernel keeps TCP 4-tuples unique; each connection's tuple is distinct all the same.
        // (The busy source's flows are among them.)
        std::set<std::string> tuples;
        for (size_t i = kDests; i < keep.fds.size(); ++i) {
            sockaddr_storage l{}, r{};
            socklen_t ll = sizeof l, rl = sizeof r;
            ASSERT_EQ(getsockname(keep.fds[i], reinterpret_cast<sockaddr*>(&l), &ll), 0);
            ASSERT_EQ(getpeername(keep.fds[i], reinterpret_cast<sockaddr*>(&r), &rl), 0);
            tuples.insert(
                cx::address::from_sockaddr(reinterpret_cast<sockaddr*>(&l), ll)->to_string() + ">" +
                cx::address::from_sockaddr(reinterpret_cast<sockaddr*>(&r), rl)->to_string());
        }
        EXPECT_EQ(tuples.size(), size_t(kSources * kPorts * kDests));
    });
}

TEST(PoolNetns, PrefixPoolLeavesOutNetworkAndBroadcastAndRoundRobins) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns(small_range(), [] {
        // 127.0.0.0/29: 127.0.0.1 .. 127.0.0.6.
        auto net = v4("127.0.0.0");
        sockaddr_storage prefix{};
        std::memcpy(&prefix, net.sa(), net.size());
        std::set<std::string> seen;
        held keep;
        for (int i = 0; i < 12; ++i) {
            connectx_result res{};
            connectx_opts o{};
            o.size = sizeof o;
            o.pool_prefix = &prefix;
            o.pool_prefix_len = 29;
            o.result = &res;
            int fd = cxtest::udp_socket(AF_INET);
            keep.fds.push_back(fd);
            ASSERT_EQ(call(fd, cxtest::dst_v4(0, 53), o), 0) << strerror(errno);
            seen.insert(cx::address::from_sockaddr(reinterpret_cast<sockaddr*>(&res.local),
                                                   sizeof res.local)
                            ->ip_string());
        }
        EXPECT_EQ(seen, (std::set<std::string>{"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4",
                                               "127.0.0.5", "127.0.0.6"}));
    });
}

TEST(PoolNetns, Ipv6PoolThroughTheCppApiReportsTheChosenSource) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns(small_range(), [] {
        cx::options o;
        auto p = cx::prefix::parse("2001:db8::1:0/126");
        ASSERT_TRUE(p);
        o.pool_prefix = *p;
        o.pool.push_back(v4("2001:db8::1"));
        std::set<std::string> seen;
        held keep;
        for (int i = 0; i < 8; ++i) {
            int fd = cxtest::udp_socket(AF_INET6);
            keep.fds.push_back(fd);
            auto c = cx::connect(fd, std::nullopt, cxtest::dst_v6(0, 53), o);
            ASSERT_TRUE(c) << c.error().message();
            seen.insert(c->local.ip_string());
        }
        // The prefix's addresses 2001:db8::1:0 .. :3: :1 and :2 are local (the namespace's
        // destinations, on lo), :0 and :3 are not and are passed over.
        EXPECT_EQ(seen, (std::set<std::string>{"2001:db8::1", "2001:db8::1:1", "2001:db8::1:2"}));
    });
}

TEST(PoolNetns, ExhaustedEntriesAreSkippedAndNonLocalOnesToo) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns(small_range(), [] {
        // 192.0.2.1 is not local: the pool moves past it to 127.0.0.1, every time.
        auto pool = v4_pool(1, 0xc0000201u);
        auto local = v4_pool(1);
        pool.push_back(local[0]);
        held keep;
        for (int i = 0; i < 4; ++i) {
            connectx_result res{};
            int fd = cxtest::udp_socket(AF_INET);
            keep.fds.push_back(fd);
            ASSERT_EQ(call(fd, cxtest::dst_v4(0, 53), pool_opts(pool, &res)), 0);
            EXPECT_EQ(cx::address::from_sockaddr(reinterpret_cast<sockaddr*>(&res.local),
                                                 sizeof res.local)
                          ->ip_string(),
                      "127.0.0.1");
        }
        for (int type : {SOCK_DGRAM, SOCK_STREAM}) {
            auto only_bad = v4_pool(2, 0xc0000201u);
            cxtest::unique_fd fd(cxtest::socket_for(cxtest::dst_v4(0, 53), type));
            EXPECT_EQ(call(fd, cxtest::dst_v4(0, 53), pool_opts(only_bad, nullptr)), EADDRNOTAVAIL);
            EXPECT_FALSE(cxtest::is_connected(fd));
            EXPECT_EQ(cxtest::local_port_of(fd), 0);
        }
    });
}

// One bad pool: the errno, and the socket as it was (unbound, SO_REUSEADDR as set).
void expect_refused(const connectx_opts& o, int want, const char* what,
                    const cx::address* src = nullptr, int family = AF_INET) {
    cxtest::unique_fd fd(cxtest::udp_socket(family));
    int one = 1;
    ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), 0);
    auto dst = family == AF_INET ? cxtest::dst_v4(0, 53) : cxtest::dst_v6(0, 53);
    EXPECT_EQ(call(fd, dst, o, src), want) << what;
    EXPECT_EQ(cxtest::local_port_of(fd), 0) << what;
    EXPECT_FALSE(cxtest::is_connected(fd)) << what;
    EXPECT_EQ(cxtest::reuseaddr_of(fd), 1) << what;
    sockaddr_storage self{};
    socklen_t len = sizeof self;
    ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&self), &len), 0);
    EXPECT_TRUE(cx::address::from_sockaddr(reinterpret_cast<sockaddr*>(&self), len)->is_wildcard())
        << what << ": refused before any bind";
}

TEST(PoolNetns, BadPoolsGetTheirErrnoBeforeAnySideEffect) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns(small_range(), [] {
        auto pool = v4_pool(2);
        auto six = v4("2001:db8::1");
        std::vector<sockaddr_storage> mixed = pool;
        std::memcpy(&mixed[1], six.sa(), six.size());
        sockaddr_storage v4net{}, v6net{};
        std::memcpy(&v4net, v4("10.0.0.0").sa(), sizeof(sockaddr_in));
        std::memcpy(&v6net, six.sa(), six.size());

        connectx_opts o = pool_opts(pool, nullptr);
        o.pool_count = 0;
        expect_refused(o, EINVAL, "empty pool (a list pointer, no entry)");
        o = pool_opts(pool, nullptr);
        o.pool = nullptr;
        expect_refused(o, EINVAL, "count without a list");
        o = pool_opts({}, nullptr);
        o.pool_prefix = &v4net;
        for (int len : {0, 33, 15, 255}) {
            o.pool_prefix_len = uint8_t(len);
            expect_refused(o, EINVAL, ("IPv4 prefix length " + std::to_string(len)).c_str());
        }
        o.pool_prefix = &v6net;
        o.pool_prefix_len = 129;
        expect_refused(o, EINVAL, "IPv6 prefix length 129", nullptr, AF_INET6);
        o.pool_prefix_len = 64;
        expect_refused(o, EINVAL, "IPv6 /64: over 65,536 addresses", nullptr, AF_INET6);
        o.pool_prefix_len = 120;
        expect_refused(o, EINVAL, "IPv6 prefix with host bits set", nullptr, AF_INET6);
        o.pool_prefix = nullptr;
        o.pool_prefix_len = 24;
        expect_refused(o, EINVAL, "prefix length without a prefix");
        expect_refused(pool_opts(mixed, nullptr), EAFNOSUPPORT, "an IPv6 entry on an IPv4 socket");
        o = pool_opts({}, nullptr);
        o.pool_prefix = &v4net;
        o.pool_prefix_len = 29;
        expect_refused(o, EAFNOSUPPORT, "an IPv4 prefix on an IPv6 socket", nullptr, AF_INET6);
        auto src = v4("127.0.0.1");
        expect_refused(pool_opts(pool, nullptr), EINVAL, "a pool and a source address", &src);
        auto src_port = v4("0.0.0.0:5000");
        expect_refused(pool_opts(pool, nullptr), EINVAL, "a pool and a source port", &src_port);
        auto with_port = v4_pool(1);
        reinterpret_cast<sockaddr_in*>(&with_port[0])->sin_port = htons(5000);
        expect_refused(pool_opts(with_port, nullptr), EINVAL, "an entry with a port");
        auto wildcard = v4_pool(1, 0);
        expect_refused(pool_opts(wildcard, nullptr), EINVAL, "a wildcard entry");
        auto multicast = v4_pool(1, 0xe0000001u);
        expect_refused(pool_opts(multicast, nullptr), EINVAL, "a multicast entry");
        o = pool_opts(pool, nullptr);
        o.reserved1_[1] = 1;
        expect_refused(o, EINVAL, "reserved1_ not zero");
    });
}

TEST(PoolNetns, CountersCountCallsMovesAndExhaustion) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns(small_range(), [] {
        const connectx_counters before = cx::counters();
        held keep;
        auto pool = v4_pool(2);
        auto per_pair = std::map<std::string, int>{};
        // Two sources x 16 ports toward one destination, then one call that fails.
        for (int n = 0; n < 2 * kPorts + 1; ++n) {
            int fd = cxtest::udp_socket(AF_INET);
            keep.fds.push_back(fd);
            int e = call(fd, cxtest::dst_v4(0, 53), pool_opts(pool, nullptr));
            EXPECT_EQ(e, n < 2 * kPorts ? 0 : EAGAIN) << n;
        }
        connectx_counters after{};
        after.size = sizeof after;
        ASSERT_EQ(connectx_counters_read(&after), 0);
        EXPECT_EQ(after.calls - before.calls, uint64_t(2 * kPorts + 1));
        EXPECT_EQ(after.failures - before.failures, 1u);
        const uint64_t udp = after.by_technique[CONNECTX_TECH_UDP_ALONE] +
                             after.by_technique[CONNECTX_TECH_UDP_LOCK] -
                             before.by_technique[CONNECTX_TECH_UDP_ALONE] -
                             before.by_technique[CONNECTX_TECH_UDP_LOCK];
        EXPECT_EQ(udp, uint64_t(2 * kPorts));
        // The last call found both sources exhausted: one move, two EAGAINs. The fill before it
        // moved on whenever round-robin started it at a full source.
        EXPECT_GE(after.pool_moves - before.pool_moves, 1u);
        EXPECT_GE(after.eagain - before.eagain, 2u);
        EXPECT_EQ(after.eagain - before.eagain, after.pool_moves - before.pool_moves + 1);
        connectx_counters small{};
        small.size = 4;
        errno = 0;
        EXPECT_EQ(connectx_counters_read(&small), -1);
        EXPECT_EQ(errno, EINVAL);
    });
}

TEST(PoolNetns, FullEntriesAreTriedLastForAMomentNotSearchedOnEveryCall) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns(small_range(), [] {
        held keep;
        const auto dst = cxtest::dst_v4(0, 53);
        auto pool = v4_pool(kSources);
        // Every source but the last full toward dst, by calls that name them.
        for (int s = 0; s < kSources - 1; ++s)
            for (int p = 0; p < kPorts; ++p) {
                int fd = cxtest::udp_socket(AF_INET);
                keep.fds.push_back(fd);
                auto src = cx::address::from_sockaddr(reinterpret_cast<sockaddr*>(&pool[size_t(s)]),
                                                      sizeof pool[0]);
                ASSERT_EQ(connectx(fd, src->sa(), src->size(), dst.sa(), dst.size(), nullptr), 0);
            }
        const connectx_counters before = cx::counters();
        const auto t0 = std::chrono::steady_clock::now();
        constexpr int kCalls = 40;
        for (int i = 0; i < kCalls; ++i) {
            connectx_result res{};
            cxtest::unique_fd fd(cxtest::udp_socket(AF_INET));
            ASSERT_EQ(call(fd, dst, pool_opts(pool, &res)), 0);
            EXPECT_EQ(cx::address::from_sockaddr(reinterpret_cast<sockaddr*>(&res.local),
                                                 sizeof res.local)
                          ->ip_string(),
                      "127.0.0.4");
        }
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - t0)
                            .count();
        const connectx_counters after = cx::counters();
        // Each full source is searched once per 100 ms at most (plus the window it was found
        // in), not on each call that starts at it (about 1.5 searches a call: 60 here).
        const uint64_t searches = after.eagain - before.eagain;
        EXPECT_LE(searches, uint64_t(kSources - 1) * uint64_t(ms / 100 + 2)) << ms << " ms";
    });
}

// The census of the test, independent of the library's: connected UDP sockets per
// "source-IP destination".
std::map<std::string, uint32_t> udp_census() {
    std::map<std::string, uint32_t> n;
    for (const auto& s : cxtest::dump_udp_sockets()) {
        if (!s.connected) continue;
        auto local = v4(s.local.c_str());
        n[local.ip_string() + " " + s.remote]++;
    }
    return n;
}

TEST(PoolNetns, BudgetAfterAFillEqualsTheSockDiagCensus) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns(small_range(), [] {
        held keep;
        auto pool = v4_pool(kSources);
        // A partial fill: 3 sources' worth toward destination 0, 5 flows toward destination 1.
        for (int n = 0; n < 3 * kPorts + 5; ++n) {
            int fd = cxtest::udp_socket(AF_INET);
            keep.fds.push_back(fd);
            ASSERT_EQ(
                call(fd, cxtest::dst_v4(n < 3 * kPorts ? 0 : 1, 53), pool_opts(pool, nullptr)), 0);
        }
        auto census = udp_census();
        auto rows = cx::port_census(IPPROTO_UDP);
        ASSERT_TRUE(rows);
        EXPECT_EQ(rows->usable, uint32_t(kPorts));
        EXPECT_EQ(rows->range.lo, kLo);
        ASSERT_EQ(rows->pairs.size(), census.size());
        uint32_t prev = UINT32_MAX;
        for (const auto& r : rows->pairs) {
            std::string key = r.source.ip_string() + " " + r.destination.to_string();
            ASSERT_TRUE(census.count(key)) << key;
            EXPECT_EQ(r.used, census[key]) << key;
            EXPECT_EQ(r.usable, uint32_t(kPorts));
            EXPECT_EQ(r.free, kPorts - census[key]);
            EXPECT_LE(r.used, prev) << "most used first";
            prev = r.used;
            auto b = cx::budget(IPPROTO_UDP, r.source, r.destination);
            ASSERT_TRUE(b);
            EXPECT_EQ(b->used, r.used);
            EXPECT_EQ(b->range.lo, kLo);
        }
        // A pair with nothing connected: all usable ports free; an unconnected socket bound to
        // the source holds its port toward every destination.
        auto quiet = cx::budget(IPPROTO_UDP, v4("127.0.0.9"), cxtest::dst_v4(0, 53));
        ASSERT_TRUE(quiet);
        EXPECT_EQ(quiet->used, 0u);
        EXPECT_EQ(quiet->free, uint32_t(kPorts));
        keep.fds.push_back(cxtest::udp_bound(v4("127.0.0.9:40003")));
        quiet = cx::budget(IPPROTO_UDP, v4("127.0.0.9"), cxtest::dst_v4(0, 53));
        EXPECT_EQ(quiet->used, 1u);
        connectx_port_budget cb{};
        auto src = v4("127.0.0.9");
        auto d = cxtest::dst_v4(0, 53);
        EXPECT_EQ(connectx_budget(IPPROTO_UDP, src.sa(), src.size(), d.sa(), d.size(), &cb), 0);
        EXPECT_EQ(cb.used, 1u);
        EXPECT_EQ(cb.usable, uint32_t(kPorts));
        errno = 0;
        EXPECT_EQ(connectx_budget(IPPROTO_ICMP, src.sa(), src.size(), d.sa(), d.size(), &cb), -1);
        EXPECT_EQ(errno, EINVAL);
        auto six = v4("2001:db8::1");
        EXPECT_EQ(connectx_budget(IPPROTO_UDP, six.sa(), six.size(), d.sa(), d.size(), &cb), -1);
        EXPECT_EQ(errno, EAFNOSUPPORT);
    });
}

}  // namespace
