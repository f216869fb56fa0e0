// udp_netns_test.cpp - the UDP path follows the namespace of the socket, not of the calling
// thread; threads share the per-namespace state without cross-wiring; a forked child never talks
// over its parent's netlink sockets.
#include <dirent.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/netns.hpp"
#include "support/rtnl.hpp"
#include "support/udp_util.hpp"

namespace {

using cxtest::dst_v4;
using cxtest::udp_connectx;
using cxtest::udp_socket;
using cxtest::v4;

constexpr uint16_t kPort = 5353;

// Runs `body` on a new thread that first moves into a fresh namespace with lo up and port range
// 50000-50003 (A's is 40000-40063). `body` gets the fd of that namespace.
void in_other_netns_thread(const std::function<void(int other_ns)>& body) {
    std::thread t([&] {
        ASSERT_EQ(unshare(CLONE_NEWNET), 0) << strerror(errno);
        ASSERT_EQ(cxtest::link_up("lo"), 0);
        ASSERT_EQ(cxtest::write_sysctl("net/ipv4/ip_local_port_range", "50000 50003"), 0);
        int ns = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        ASSERT_GE(ns, 0);
        body(ns);
        ::close(ns);
    });
    t.join();
}

bool in_range(int fd, uint16_t lo, uint16_t hi) {
    uint16_t p = cxtest::local_port_of(fd);
    return p >= lo && p <= hi;
}

TEST(UdpConnectxNamespaces, SocketOfTheCallersNamespaceFromAThreadElsewhere) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        auto src = v4("127.0.0.1");
        int a_sock = udp_socket(AF_INET);  // lives in A
        int a_sock6 = udp_socket(AF_INET6);
        in_other_netns_thread([&](int) {
            EXPECT_EQ(udp_connectx(a_sock6, nullptr, cxtest::dst_v6(0, kPort)), 0)
                << "A's routing table, asked from B";
            // The thread stands in B, the socket lives in A: A's range and A's conflicts.
            EXPECT_EQ(udp_connectx(a_sock, &src, dst_v4(0, kPort)), 0);
            EXPECT_TRUE(in_range(a_sock, 40000, 40063)) << cxtest::local_port_of(a_sock);
            // And a socket of B, from the same thread: B's routes (none to 2001:db8::/64)...
            int wild = udp_socket(AF_INET6);
            EXPECT_EQ(udp_connectx(wild, nullptr, cxtest::dst_v6(0, kPort)), ENETUNREACH);
            ::close(wild);
        });
        ::close(a_sock), ::close(a_sock6);
    });
}

TEST(UdpConnectxNamespaces, SocketOfAnotherNamespaceUsesThatNamespacesRangeAndTable) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        std::vector<int> b_socks;
        in_other_netns_thread([&](int) {
            for (int i = 0; i < 6; ++i) b_socks.push_back(udp_socket(AF_INET));
        });
        // This thread is in A; the sockets live in B (range 50000-50003, lo = 127.0.0.1).
        auto src = v4("127.0.0.1");
        auto dst = v4("127.0.0.1:5353");
        int ok = 0, last = 0;
        for (int fd : b_socks) {
            int e = udp_connectx(fd, &src, dst);
            if (e == 0) {
                ++ok;
                EXPECT_TRUE(in_range(fd, 50000, 50003)) << cxtest::local_port_of(fd);
            }
            last = e;
        }
        EXPECT_EQ(ok, 4);
        EXPECT_EQ(last, EAGAIN);
        // A's state is separate: A still has its full range toward the same tuple.
        int a = udp_socket(AF_INET);
        EXPECT_EQ(udp_connectx(a, &src, dst), 0);
        EXPECT_TRUE(in_range(a, 40000, 40063));
        ::close(a);
        for (int fd : b_socks) ::close(fd);
    });
}

TEST(UdpConnectxNamespaces, ThreadThatMovesIsHonouredOnTheNextCall) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        auto src = v4("127.0.0.1");
        int home = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        std::thread t([&] {
            int a = udp_socket(AF_INET);
            EXPECT_EQ(udp_connectx(a, &src, dst_v4(0, kPort)), 0);
            EXPECT_TRUE(in_range(a, 40000, 40063));
            ASSERT_EQ(unshare(CLONE_NEWNET), 0);
            ASSERT_EQ(cxtest::link_up("lo"), 0);
            ASSERT_EQ(cxtest::write_sysctl("net/ipv4/ip_local_port_range", "50000 50003"), 0);
            int b = udp_socket(AF_INET);
            auto dst = v4("127.0.0.1:5353");
            EXPECT_EQ(udp_connectx(b, &src, dst), 0);
            EXPECT_TRUE(in_range(b, 50000, 50003)) << cxtest::local_port_of(b);
            // And back home: A again.
            ASSERT_EQ(setns(home, CLONE_NEWNET), 0);
            int c = udp_socket(AF_INET);
            EXPECT_EQ(udp_connectx(c, &src, dst_v4(0, kPort)), 0);
            EXPECT_TRUE(in_range(c, 40000, 40063));
            ::close(a), ::close(b), ::close(c);
        });
        t.join();
        ::close(home);
    });
}

std::string local_ip(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    auto a = cx::address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
    return a ? a->ip_string() : "?";
}

TEST(UdpConnectxNamespaces, RoutingChangesAreHonouredOnTheNextCall) {
    CXTEST_REQUIRE_NETNS();
    cxtest::netns_options opt;
    opt.dummy = true;
    cxtest::run_in_netns(opt, [] {
        // Route answers are cached until the routing state changes: each change below must be
        // seen by the very next call.
        ASSERT_EQ(std::system("ip addr add 10.9.0.1/24 dev dummy0 && "
                              "ip addr add 10.9.0.2/24 dev dummy0"),
                  0)
            << "needs iproute2";
        auto dst = v4("10.9.0.77:5353");
        auto source_now = [&] {
            int fd = udp_socket(AF_INET);
            int e = udp_connectx(fd, nullptr, dst);
            std::string ip = e == 0 ? local_ip(fd) : std::string("errno ") + strerror(e);
            ::close(fd);
            return ip;
        };
        EXPECT_EQ(source_now(), "10.9.0.1");
        EXPECT_EQ(source_now(), "10.9.0.1");  // (cached)
        ASSERT_EQ(std::system("ip route replace 10.9.0.0/24 dev dummy0 src 10.9.0.2"), 0);
        EXPECT_EQ(source_now(), "10.9.0.2") << "route change";
        ASSERT_EQ(std::system("ip addr add 10.9.0.3/32 dev dummy0 && "
                              "ip route add 10.9.0.77/32 dev dummy0 src 10.9.0.3"),
                  0);
        EXPECT_EQ(source_now(), "10.9.0.3") << "more specific route";
        ASSERT_EQ(std::system("ip link set dummy0 down"), 0);
        EXPECT_EQ(source_now(), std::string("errno ") + strerror(ENETUNREACH)) << "link down";
    });
}

TEST(UdpConnectxThreads, ManyThreadsNeverGetDuplicatesOrCrossWiredReplies) {
    CXTEST_REQUIRE_NETNS();
    cxtest::netns_options opt;
    opt.port_hi = 40255;  // 256 ports x 4 destinations
    cxtest::run_in_netns(opt, [] {
        auto src = v4("127.0.0.1");
        std::mutex mu;
        std::vector<int> keep;
        std::atomic<int> eagain{0}, other{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < 8; ++t)
            threads.emplace_back([&, t] {
                for (int i = 0; i < 200; ++i) {
                    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                    int e = udp_connectx(fd, t % 2 ? &src : nullptr, dst_v4((t + i) % 4, kPort));
                    if (e == 0) {
                        std::lock_guard lock(mu);
                        keep.push_back(fd);
                        continue;
                    }
                    ::close(fd);
                    (e == EAGAIN ? eagain : other)++;
                }
            });
        for (auto& th : threads) th.join();
        EXPECT_EQ(other.load(), 0) << "errors other than EAGAIN (EPROTO would mean cross-wiring)";
        EXPECT_EQ(keep.size() + size_t(eagain.load()), 1600u);
        EXPECT_EQ(keep.size(), 1024u);
        auto dup = cxtest::duplicate_tuples(cxtest::dump_udp_sockets());
        EXPECT_TRUE(dup.empty()) << dup.front();
        for (int fd : keep) ::close(fd);
    });
}

// Port ids of the netlink sockets this process has open.
std::set<uint32_t> netlink_portids() {
    std::set<uint32_t> ids;
    DIR* d = opendir("/proc/self/fd");
    while (dirent* e = readdir(d)) {
        int fd = atoi(e->d_name);
        sockaddr_nl nl{};
        socklen_t len = sizeof nl;
        if (fd > 2 && getsockname(fd, reinterpret_cast<sockaddr*>(&nl), &len) == 0 &&
            nl.nl_family == AF_NETLINK)
            ids.insert(nl.nl_pid);
    }
    closedir(d);
    return ids;
}

TEST(UdpConnectxFork, ChildNeverUsesTheParentsNetlinkSockets) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        auto src = v4("127.0.0.1");
        int a = udp_socket(AF_INET);
        ASSERT_EQ(udp_connectx(a, nullptr, dst_v4(0, kPort)), 0);  // diag and route sockets
        auto parents = netlink_portids();
        ASSERT_FALSE(parents.empty());
        pid_t pid = fork();
        if (pid == 0) {
            int b = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            int e = udp_connectx(b, nullptr, dst_v4(1, kPort));
            auto mine = netlink_portids();
            bool shared = false;
            for (uint32_t id : mine) shared |= parents.count(id) > 0;
            _exit(e == 0 && !mine.empty() && !shared ? 0 : 1);
        }
        int status = 0;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
            << "child failed, or kept a parent's netlink socket";
        // The parent's sockets still work.
        int c = udp_socket(AF_INET);
        EXPECT_EQ(udp_connectx(c, &src, dst_v4(2, kPort)), 0);
        ::close(a), ::close(c);
    });
}

}  // namespace
