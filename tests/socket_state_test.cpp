// socket_state_test.cpp - after connectx(), the socket's options are as the caller left them
// (after a failure: IP_LOCAL_PORT_RANGE, IP_BIND_ADDRESS_NO_PORT, the device of opts.ifindex,
// SO_REUSEADDR); per-call port ranges hold against sysctl changes and the socket's own range;
// where the namespace's state cannot be had the call fails closed; opts.ifindex is looked up where
// the socket lives; and a UDP socket with IP_BIND_ADDRESS_NO_PORT still reaches every port.
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "support/netns.hpp"
#include "support/rtnl.hpp"
#include "support/udp_util.hpp"
#include "support/unique_fd.hpp"

#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51
#endif

namespace {

using cxtest::udp_connectx;
using cxtest::udp_socket;
using cxtest::v4;

int int_opt(int fd, int level, int name) {
    int v = -1;
    socklen_t len = sizeof v;
    EXPECT_EQ(getsockopt(fd, level, name, &v, &len), 0) << strerror(errno);
    return v;
}

bool kernel_has_local_port_range() {
    cxtest::unique_fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    int v = 0;
    socklen_t len = sizeof v;
    bool has = getsockopt(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &v, &len) == 0;
    fd.reset();
    return has;
}

connectx_opts range_opts(uint16_t lo, uint16_t hi, connectx_result* res = nullptr) {
    connectx_opts o{};
    o.size = sizeof o;
    o.port_lo = lo;
    o.port_hi = hi;
    o.result = res;
    return o;
}

int tcp_connectx(int fd, const cx::address* src, const cx::address& dst,
                 const connectx_opts* o = nullptr) {
    return connectx(fd, src ? src->sa() : nullptr, src ? src->size() : 0, dst.sa(), dst.size(), o)
               ? errno
               : 0;
}

TEST(SocketStateNetns, TcpFailureLeavesPortRangeAndNoPortAsTheCallerSetThem) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        const bool lpr = kernel_has_local_port_range();
        auto not_local = v4("10.99.0.1");
        auto dst = cxtest::dst_v4(0, 8080);
        for (int caller_no_port : {0, 1}) {
            cxtest::unique_fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
            ASSERT_EQ(setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &caller_no_port,
                                 sizeof caller_no_port),
                      0);
            connectx_opts o = range_opts(40010, 40020);
            EXPECT_EQ(tcp_connectx(fd, &not_local, dst, &o), EADDRNOTAVAIL);
            if (lpr) {
                EXPECT_EQ(int_opt(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE), 0);
            }
            EXPECT_EQ(int_opt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT), caller_no_port);
            EXPECT_EQ(tcp_connectx(fd, &not_local, dst), EADDRNOTAVAIL) << "without a range";
            EXPECT_EQ(int_opt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT), caller_no_port);
            fd.reset();
        }
    });
}

TEST(SocketStateNetns, DeviceOfOptsIfindexIsTakenBackAfterEaddrinuse) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        const int lo = int(if_nametoindex("lo"));
        connectx_opts o{};
        o.size = sizeof o;
        o.ifindex = lo;
        // UDP: the 4-tuple is taken.
        auto src = v4("127.0.0.1:5040");
        auto dst = cxtest::dst_v4(0, 6040);
        int a = udp_socket(AF_INET);
        ASSERT_EQ(udp_connectx(a, &src, dst), 0);
        int b = udp_socket(AF_INET);
        EXPECT_EQ(udp_connectx(b, &src, dst, &o), EADDRINUSE);
        EXPECT_EQ(int_opt(b, SOL_SOCKET, SO_BINDTOIFINDEX), 0);
        EXPECT_EQ(int_opt(b, SOL_SOCKET, SO_REUSEADDR), 0);
        // TCP with a fixed port a listener holds.
        auto at = v4("127.0.0.1:5041");
        cxtest::unique_fd l(cxtest::tcp_listener(at));
        int t = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        EXPECT_EQ(tcp_connectx(t, &at, cxtest::dst_v4(0, 6041), &o), EADDRINUSE);
        EXPECT_EQ(int_opt(t, SOL_SOCKET, SO_BINDTOIFINDEX), 0);
        EXPECT_EQ(int_opt(t, SOL_SOCKET, SO_REUSEADDR), 0);
        ::close(a), ::close(b), ::close(l), ::close(t);
    });
}

TEST(SocketStateNetns, UdpFixedPortWhoseConnectFailsKeepsTheCallersReuseaddr) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        for (int caller : {0, 1}) {
            cxtest::unique_fd fd(udp_socket(AF_INET));
            ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &caller, sizeof caller), 0);
            auto src = v4("127.0.0.1:5050");
            EXPECT_EQ(udp_connectx(fd, &src, v4("192.0.2.1:53")), ENETUNREACH);
            EXPECT_EQ(int_opt(fd, SOL_SOCKET, SO_REUSEADDR), caller);
            EXPECT_FALSE(cxtest::is_connected(fd));
            fd.reset();
        }
    });
}

TEST(SocketStateNetns, UdpPerCallRangeHoldsWhenTheNamespaceRangeMovesAway) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        auto ip = v4("127.0.0.1");
        connectx_result res{};
        connectx_opts o = range_opts(40010, 40020, &res);
        std::vector<int> held;
        for (int i = 0; i < 3; ++i) {
            cxtest::unique_fd fd(udp_socket(AF_INET));
            ASSERT_EQ(udp_connectx(fd, &ip, cxtest::dst_v4(i, 53), &o), 0);
            held.push_back(fd.release());
        }
        ASSERT_EQ(cxtest::write_sysctl("net/ipv4/ip_local_port_range", "20000 20011"), 0);
        for (int i = 0; i < 8; ++i) {
            cxtest::unique_fd fd(udp_socket(AF_INET));
            int e = udp_connectx(fd, &ip, cxtest::dst_v4(i % 4, 53), &o);
            uint16_t port = cxtest::local_port_of(fd);
            EXPECT_TRUE(e == EAGAIN || (e == 0 && port >= 40010 && port <= 40020))
                << "errno " << e << ", port " << port;
            fd.reset();
        }
        for (int fd : held) ::close(fd);
    });
}

// TCP's per-call range narrowed by the socket's own IP_LOCAL_PORT_RANGE, which stays as set.
TEST(SocketStateNetns, TcpPerCallRangeIntersectsTheSocketsOwn) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        if (!kernel_has_local_port_range()) {
            std::printf(
                "no IP_LOCAL_PORT_RANGE on this kernel: a socket has no range of its own\n");
            return;
        }
        auto dst = cxtest::dst_v4(0, 8080);
        cxtest::unique_fd l(cxtest::tcp_listener(dst));
        const int own = 40003 << 16 | 40000;
        std::vector<int> held;
        for (int i = 0; i < 5; ++i) {
            cxtest::unique_fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
            ASSERT_EQ(setsockopt(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &own, sizeof own), 0);
            connectx_opts o = range_opts(40000, 40050);
            auto ip = v4("127.0.0.1");
            int e = tcp_connectx(fd, &ip, dst, &o);
            EXPECT_EQ(int_opt(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE), own);
            if (i < 4) {
                ASSERT_EQ(e, 0) << strerror(e);
                uint16_t port = cxtest::local_port_of(fd);
                EXPECT_TRUE(port >= 40000 && port <= 40003) << port;
                held.push_back(fd.release());
            } else {
                EXPECT_EQ(e, EADDRNOTAVAIL) << "the socket's own four ports are taken";
                fd.reset();
            }
        }
        for (int fd : held) ::close(fd);
        l.reset();
    });
}

// Under EMFILE the namespace's reserved ports cannot be read: the call fails rather than pick one.
TEST(SocketStateNetns, TcpRangeFailsClosedWhenTheNamespaceStateCannotBeHad) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        ASSERT_EQ(
            cxtest::write_sysctl("net/ipv4/ip_local_reserved_ports", "40010-40014,40016-40020"), 0);
        auto dst = cxtest::dst_v4(0, 8080);
        cxtest::unique_fd l(cxtest::tcp_listener(dst));
        cxtest::unique_fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        // Explicit ports, the path that reads the reserved list itself.
        connectx_opts o = range_opts(40010, 40020);
        o.flags = CONNECTX_F_EXPLICIT_PORTS;
        pid_t pid = fork();
        if (pid == 0) {  // a fresh process: no namespace state yet, and no fd to make it with
            rlimit lim{};
            getrlimit(RLIMIT_NOFILE, &lim);
            lim.rlim_cur = rlim_t(cxtest::open_fd_count());
            setrlimit(RLIMIT_NOFILE, &lim);
            while (dup(0) >= 0) {  // fill the holes below the limit too
            }
            auto ip = v4("127.0.0.1");
            int e = tcp_connectx(fd, &ip, dst, &o);
            uint16_t port = cxtest::local_port_of(fd);
            _exit(e == EMFILE || (e == 0 && port == 40015) ? 0 : 1);
        }
        int status = 0;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
            << "picked a reserved port or failed otherwise";
        fd.reset();
        l.reset();
    });
}

// A UDP socket on which the program set IP_BIND_ADDRESS_NO_PORT (as it would on a TCP client
// socket) reaches every port toward every destination, and keeps the option.
// Run twice: as a thread's first calls (one system call each), and with the thread's io_uring
// made (src/sock_ops.hpp), where a connect() that must take a taken port answers EAGAIN late.
class UdpNoPort : public ::testing::TestWithParam<bool> {
protected:
    // `body` in a namespace of 16 ports (40000-40015), after the thread's ring when it is the
    // parameter's case.
    template <class Body>
    void in_sixteen_ports(Body body) {
        cxtest::netns_options opt;
        opt.port_lo = 40000;
        opt.port_hi = 40015;
        const bool ring = GetParam();
        cxtest::run_in_netns(opt, [&] {
            if (ring) cxtest::warm_thread_ring();
            body();
        });
    }
};

TEST_P(UdpNoPort, ReachesTheWholeRange) {
    CXTEST_REQUIRE_NETNS();
    in_sixteen_ports([] {
        std::vector<int> held;
        auto ip = v4("127.0.0.1");
        for (int d = 0; d < 2; ++d) {
            for (int i = 0; i < 16; ++i) {
                cxtest::unique_fd fd(udp_socket(AF_INET));
                int one = 1;
                ASSERT_EQ(setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one), 0);
                ASSERT_EQ(udp_connectx(fd, d ? nullptr : &ip, cxtest::dst_v4(d, 53)), 0)
                    << "destination " << d << ", flow " << i;
                EXPECT_EQ(int_opt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT), 1);
                held.push_back(fd.release());
            }
            cxtest::unique_fd fd(udp_socket(AF_INET));
            EXPECT_EQ(udp_connectx(fd, &ip, cxtest::dst_v4(d, 53)), EAGAIN);
            fd.reset();
        }
        EXPECT_TRUE(cxtest::duplicate_tuples(cxtest::dump_udp_sockets()).empty());
        for (int fd : held) ::close(fd);
    });
}

// The same with the caller's SO_REUSEADDR too, so that every call takes the lock: a process that
// has not seen the option yet binds without clearing it, finds through its lookup that the bind
// took no port, and goes on with it cleared. Every port, then EAGAIN; both options as the caller
// set them.
TEST_P(UdpNoPort, LockedReachesTheWholeRange) {
    CXTEST_REQUIRE_NETNS();
    in_sixteen_ports([] {
        std::vector<int> held;
        auto ip = v4("127.0.0.1");
        int one = 1;
        for (int i = 0; i <= 16; ++i) {
            cxtest::unique_fd fd(udp_socket(AF_INET));
            ASSERT_EQ(setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one), 0);
            ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), 0);
            connectx_result res{};
            connectx_opts o{};
            o.size = sizeof o;
            o.result = &res;
            EXPECT_EQ(udp_connectx(fd, &ip, cxtest::dst_v4(0, 53), &o), i < 16 ? 0 : EAGAIN)
                << "flow " << i;
            if (i < 16) {
                EXPECT_EQ(res.technique, uint32_t(CONNECTX_TECH_UDP_LOCK)) << "flow " << i;
            }
            EXPECT_EQ(int_opt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT), 1);
            EXPECT_EQ(int_opt(fd, SOL_SOCKET, SO_REUSEADDR), 1);
            if (i < 16) held.push_back(fd.release());
        }
        EXPECT_TRUE(cxtest::duplicate_tuples(cxtest::dump_udp_sockets()).empty());
        for (int fd : held) ::close(fd);
    });
}

INSTANTIATE_TEST_SUITE_P(SocketStateNetns, UdpNoPort, ::testing::Values(false, true),
                         [](const auto& p) { return p.param ? "WithRing" : "FirstCalls"; });

// opts.ifindex names an interface of the socket's namespace, also when the caller stands in
// another one (where that index may not exist, or be another interface).
TEST(SocketStateNetns, IfindexIsLookedUpWhereTheSocketLives) {
    CXTEST_REQUIRE_NETNS();
    cxtest::netns_options opt;
    opt.dummy = true;
    cxtest::run_in_netns(opt, [] {
        ASSERT_EQ(cxtest::add_address("dummy0", "10.9.0.1", 24), 0);
        const int dummy = int(if_nametoindex("dummy0"));
        cxtest::unique_fd fd(udp_socket(AF_INET));
        int other = udp_socket(AF_INET);
        int tcp = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        ASSERT_EQ(unshare(CLONE_NEWNET), 0) << "the caller moves to a namespace with lo only";
        ASSERT_EQ(if_nametoindex("dummy0"), 0u);
        connectx_opts o{};
        o.size = sizeof o;
        o.ifindex = dummy;
        auto src = v4("10.9.0.1");
        EXPECT_EQ(udp_connectx(fd, &src, v4("10.9.0.2:53"), &o), 0);
        EXPECT_EQ(int_opt(fd, SOL_SOCKET, SO_BINDTOIFINDEX), dummy);
        auto elsewhere = v4("127.0.0.1");
        EXPECT_EQ(udp_connectx(other, &elsewhere, v4("10.9.0.2:53"), &o), EADDRNOTAVAIL)
            << "127.0.0.1 is on lo, not on dummy0";
        o.ifindex = 4242;
        EXPECT_EQ(udp_connectx(other, &src, v4("10.9.0.2:53"), &o), ENODEV);
        o.ifindex = dummy;
        int e = tcp_connectx(tcp, &src, v4("10.9.0.2:80"), &o);
        EXPECT_TRUE(e == EINPROGRESS || e == 0) << strerror(e);
        ::close(fd), ::close(other), ::close(tcp);
    });
}

}  // namespace
