// validate_test.cpp - every bad input gets its documented errno before any side effect: the
// socket stays unbound, SO_REUSEADDR untouched, and no file descriptor is left behind.
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "support/netns.hpp"
#include "support/unique_fd.hpp"

namespace {

using cxtest::v4;

// Asserts that `fd` is as socket(2) made it: unbound, unconnected, SO_REUSEADDR off.
void expect_untouched(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len), 0);
    auto self = cx::address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
    ASSERT_TRUE(self);
    EXPECT_TRUE(self->is_wildcard() && self->port() == 0) << self->to_string();
    int reuse = -1;
    len = sizeof reuse;
    getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, &len);
    EXPECT_EQ(reuse, 0);
}

struct call {
    int fd;
    const sockaddr* src = nullptr;
    socklen_t src_len = 0;
    const sockaddr* dst = nullptr;
    socklen_t dst_len = 0;
    const connectx_opts* opts = nullptr;
};

int errno_of(const call& c) {
    errno = 0;
    int before = cxtest::open_fd_count();
    int rc = connectx(c.fd, c.src, c.src_len, c.dst, c.dst_len, c.opts);
    EXPECT_EQ(cxtest::open_fd_count(), before) << "fd leaked";
    return rc == 0 ? 0 : errno;
}

class BadInput : public ::testing::TestWithParam<int> {};  // SOCK_STREAM or SOCK_DGRAM

TEST_P(BadInput, EveryCaseHasItsErrnoAndLeavesTheSocketAlone) {
    CXTEST_REQUIRE_NETNS();
    int type = GetParam();
    cxtest::run_in_netns([type] {
        auto dst4 = v4("127.0.1.1:8080");
        auto dst6 = v4("[2001:db8::1:1]:8080");
        auto src4 = v4("127.0.0.1:0");
        // The namespace's state (netlink sockets, sysctl files) is kept for later calls, not
        // leaked: a first call makes it, so that each case below can count fds. (The caller's
        // SO_REUSEADDR takes it down the path that asks the route and SOCK_DIAG.)
        {
            cxtest::unique_fd warm(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
            int one = 1;
            ASSERT_EQ(setsockopt(warm, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), 0);
            ASSERT_EQ(connectx(warm, nullptr, 0, dst4.sa(), dst4.size(), nullptr), 0)
                << strerror(errno);
            warm.reset();
        }
        cxtest::unique_fd s4(::socket(AF_INET, type | SOCK_CLOEXEC, 0));
        cxtest::unique_fd s6(::socket(AF_INET6, type | SOCK_CLOEXEC, 0));

        EXPECT_EQ(errno_of({-1, nullptr, 0, dst4.sa(), dst4.size()}), EBADF);
        EXPECT_EQ(errno_of({12345, nullptr, 0, dst4.sa(), dst4.size()}), EBADF);
        int pipefd[2];
        ASSERT_EQ(pipe2(pipefd, O_CLOEXEC), 0);
        EXPECT_EQ(errno_of({pipefd[0], nullptr, 0, dst4.sa(), dst4.size()}), ENOTSOCK);
        close(pipefd[0]);
        close(pipefd[1]);
        cxtest::unique_fd unix_fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        EXPECT_EQ(errno_of({unix_fd, nullptr, 0, dst4.sa(), dst4.size()}), EAFNOSUPPORT);
        unix_fd.reset();
        cxtest::unique_fd raw(::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP));
        ASSERT_GE(raw, 0) << strerror(errno);
        EXPECT_EQ(errno_of({raw, nullptr, 0, dst4.sa(), dst4.size()}), EPROTOTYPE);
        raw.reset();

        // Destination.
        EXPECT_EQ(errno_of({s4, nullptr, 0, nullptr, 0}), EINVAL);
        EXPECT_EQ(errno_of({s4, nullptr, 0, dst4.sa(), sizeof(sockaddr_in) - 1}), EINVAL);
        EXPECT_EQ(errno_of({s4, nullptr, 0, dst4.sa(), 1}), EINVAL);
        EXPECT_EQ(errno_of({s4, nullptr, 0, dst4.sa(), sizeof(sockaddr_storage) + 1}), EINVAL);
        EXPECT_EQ(errno_of({s4, nullptr, 0, dst6.sa(), dst6.size()}), EAFNOSUPPORT);
        EXPECT_EQ(errno_of({s6, nullptr, 0, dst4.sa(), dst4.size()}), EAFNOSUPPORT);
        EXPECT_EQ(errno_of({s6, nullptr, 0, dst6.sa(), sizeof(sockaddr_in6) - 1}), EINVAL);
        auto port0 = v4("127.0.1.1:0");
        EXPECT_EQ(errno_of({s4, nullptr, 0, port0.sa(), port0.size()}), EINVAL);
        auto any = v4("0.0.0.0:80");
        EXPECT_EQ(errno_of({s4, nullptr, 0, any.sa(), any.size()}), EINVAL);
        auto ll = v4("[fe80::1]:80");
        EXPECT_EQ(errno_of({s6, nullptr, 0, ll.sa(), ll.size()}), EINVAL) << "no scope id";

        // Source.
        EXPECT_EQ(errno_of({s4, dst6.sa(), dst6.size(), dst4.sa(), dst4.size()}), EAFNOSUPPORT);
        EXPECT_EQ(errno_of({s4, src4.sa(), 4, dst4.sa(), dst4.size()}), EINVAL);
        auto ll_src = v4("fe80::1");
        EXPECT_EQ(errno_of({s6, ll_src.sa(), ll_src.size(), dst6.sa(), dst6.size()}), EINVAL)
            << "link-local source without scope, toward a global destination";
        auto mapped_src = v4("::ffff:127.0.0.1");
        EXPECT_EQ(errno_of({s6, mapped_src.sa(), mapped_src.size(), dst6.sa(), dst6.size()}),
                  EAFNOSUPPORT);

        // Options.
        connectx_opts o{};
        // A larger struct of a later version: its unknown tail must be zero (E2BIG otherwise).
        struct {
            connectx_opts o;
            uint64_t tail;
        } bigger{};
        bigger.o.size = sizeof bigger;
        bigger.tail = 1;
        EXPECT_EQ(errno_of({s4, nullptr, 0, dst4.sa(), dst4.size(), &bigger.o}), E2BIG) << "tail";
        o.size = offsetof(connectx_opts, pool) - 1;  // below the first layout (24 bytes)
        EXPECT_EQ(errno_of({s4, nullptr, 0, dst4.sa(), dst4.size(), &o}), EINVAL) << "size";
        o.size = 0;
        EXPECT_EQ(errno_of({s4, nullptr, 0, dst4.sa(), dst4.size(), &o}), EINVAL) << "size 0";
        o.size = sizeof o;
        o.flags = 0x80;
        EXPECT_EQ(errno_of({s4, nullptr, 0, dst4.sa(), dst4.size(), &o}), EINVAL) << "flags";
        o.flags = 0;
        o.port_lo = 2000;
        o.port_hi = 1000;
        EXPECT_EQ(errno_of({s4, nullptr, 0, dst4.sa(), dst4.size(), &o}), EINVAL) << "lo > hi";
        o.port_lo = 0;
        o.port_hi = 1000;
        EXPECT_EQ(errno_of({s4, nullptr, 0, dst4.sa(), dst4.size(), &o}), EINVAL) << "lo 0";
        o.port_hi = 0;
        o.ifindex = -1;
        EXPECT_EQ(errno_of({s4, nullptr, 0, dst4.sa(), dst4.size(), &o}), EINVAL) << "ifindex";
        o.ifindex = 424242;
        EXPECT_EQ(errno_of({s4, nullptr, 0, dst4.sa(), dst4.size(), &o}), ENODEV);
        o.ifindex = 0;

        expect_untouched(s4);
        expect_untouched(s6);

        // v6-only socket and a mapped destination.
        int one = 1;
        setsockopt(s6, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        auto mapped = v4("[::ffff:127.0.1.1]:8080");
        EXPECT_EQ(errno_of({s6, nullptr, 0, mapped.sa(), mapped.size()}), EAFNOSUPPORT);
        expect_untouched(s6);

        // A socket that is already bound: connectx does the binding itself.
        auto some = v4("127.0.0.1:40001");
        ASSERT_EQ(::bind(s4, some.sa(), some.size()), 0);
        EXPECT_EQ(errno_of({s4, nullptr, 0, dst4.sa(), dst4.size()}), EINVAL);
        s4.reset();
        s6.reset();
    });
}

INSTANTIATE_TEST_SUITE_P(TcpAndUdp, BadInput, ::testing::Values(SOCK_STREAM, SOCK_DGRAM),
                         [](const auto& p) { return p.param == SOCK_STREAM ? "Tcp" : "Udp"; });

// TCP with a source IP and no port makes one query before its first side effect, not two: the
// bind finds a socket of the wrong family or state, and the call then says which. The socket
// must still end as it was, IP_BIND_ADDRESS_NO_PORT off again.
TEST(BadInputNetns, TcpWithSourceIpRefusesTheWrongSocketAndLeavesItAsItWas) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        auto dst4 = v4("127.0.1.1:8080");
        auto src4 = v4("127.0.0.1");
        auto dst6 = v4("[2001:db8::1:1]:8080");
        auto src6 = v4("2001:db8::1");
        auto expect_no_bind_option_left = [](int fd) {
            int v = -1;
            socklen_t len = sizeof v;
            ASSERT_EQ(getsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &v, &len), 0);
            EXPECT_EQ(v, 0);
        };
        auto refused = [&](int fd, const cx::address& src, const cx::address& dst) {
            return errno_of({fd, src.sa(), src.size(), dst.sa(), dst.size()});
        };
        auto local_of = [](int fd, bool with_port) {
            sockaddr_storage ss{};
            socklen_t len = sizeof ss;
            EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len), 0);
            return cx::address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len)
                ->to_string(with_port);
        };

        cxtest::unique_fd s4(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        cxtest::unique_fd s6(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
        EXPECT_EQ(refused(s6, src4, dst4), EAFNOSUPPORT);
        EXPECT_EQ(refused(s4, src6, dst6), EAFNOSUPPORT);
        auto mapped_src = v4("::ffff:127.0.0.1");
        auto mapped_dst = v4("[::ffff:127.0.1.1]:8080");
        EXPECT_EQ(refused(s4, mapped_src, mapped_dst), EAFNOSUPPORT);
        for (int fd : {s4.get(), s6.get()}) {
            expect_untouched(fd);
            expect_no_bind_option_left(fd);
        }

        // Bound to a port: refused, still bound there.
        auto some = v4("127.0.0.2:40001");
        ASSERT_EQ(::bind(s4, some.sa(), some.size()), 0);
        EXPECT_EQ(refused(s4, src4, dst4), EINVAL);
        expect_no_bind_option_left(s4);
        EXPECT_EQ(local_of(s4, true), "127.0.0.2:40001");
        s4.reset();
        s6.reset();

        cxtest::unique_fd l(cxtest::tcp_listener(dst4));
        EXPECT_EQ(refused(l, src4, dst4), EINVAL) << "a listener";
        cxtest::unique_fd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        ASSERT_EQ(::connect(c, dst4.sa(), dst4.size()), 0);
        EXPECT_EQ(refused(c, src4, dst4), EISCONN);
        c.reset();

        // Raw sockets of the TCP and UDP protocols are not TCP or UDP sockets.
        for (int proto : {IPPROTO_TCP, IPPROTO_UDP}) {
            cxtest::unique_fd raw(::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, proto));
            ASSERT_GE(raw, 0) << strerror(errno);
            EXPECT_EQ(refused(raw, src4, dst4), EPROTOTYPE) << proto;
            EXPECT_EQ(errno_of({raw, nullptr, 0, dst4.sa(), dst4.size()}), EPROTOTYPE) << proto;
            raw.reset();
        }
        // MPTCP answers IPPROTO_TCP's options too, but is not TCP (where the kernel has it).
        cxtest::unique_fd m(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 262 /* IPPROTO_MPTCP */));
        if (m >= 0) {
            EXPECT_EQ(refused(m, src4, dst4), EPROTOTYPE);
            m.reset();
        }

        // Bound to an address alone (IP_BIND_ADDRESS_NO_PORT, port 0): a TCP socket passes,
        // whatever kind of socket the call before had. The kernel lets a second bind replace
        // the address, and so does a source given here; without one, connect() keeps it. A UDP
        // socket is refused.
        auto bound_to_address = [](int type, const char* ip) {
            int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
            int one = 1;
            setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
            auto at = v4(ip);
            EXPECT_EQ(::bind(fd, at.sa(), at.size()), 0);
            return fd;
        };
        for (int before : {SOCK_STREAM, SOCK_DGRAM}) {
            cxtest::unique_fd prev(::socket(AF_INET, before | SOCK_CLOEXEC, 0));
            auto port0 = v4("127.0.1.1:0");
            EXPECT_EQ(errno_of({prev, nullptr, 0, port0.sa(), port0.size()}), EINVAL);
            prev.reset();

            cxtest::unique_fd a(bound_to_address(SOCK_STREAM, "127.0.0.3"));
            EXPECT_EQ(refused(a, src4, dst4), 0) << before;
            EXPECT_EQ(local_of(a, false), "127.0.0.1");
            a.reset();
            a.reset(bound_to_address(SOCK_STREAM, "127.0.0.3"));
            EXPECT_EQ(errno_of({a, nullptr, 0, dst4.sa(), dst4.size()}), 0) << before;
            EXPECT_EQ(local_of(a, false), "127.0.0.3");
            a.reset();
        }
        cxtest::unique_fd u(bound_to_address(SOCK_DGRAM, "127.0.0.3"));
        EXPECT_EQ(refused(u, src4, dst4), EINVAL);
        EXPECT_EQ(errno_of({u, nullptr, 0, dst4.sa(), dst4.size()}), EINVAL);
        u.reset();
        l.reset();
    });
}

TEST(BadInputNetns, ConnectedSocketGetsEisconn) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        auto dst = v4("127.0.1.1:8080");
        cxtest::unique_fd l(cxtest::tcp_listener(dst));
        cxtest::unique_fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        ASSERT_EQ(::connect(fd, dst.sa(), dst.size()), 0);
        EXPECT_EQ(errno_of({fd, nullptr, 0, dst.sa(), dst.size()}), EISCONN);
        cxtest::unique_fd u(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        ASSERT_EQ(::connect(u, dst.sa(), dst.size()), 0);
        EXPECT_EQ(errno_of({u, nullptr, 0, dst.sa(), dst.size()}), EISCONN);
        fd.reset();
        u.reset();
        l.reset();
    });
}

}  // namespace
