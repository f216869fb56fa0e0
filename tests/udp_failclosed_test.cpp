// udp_failclosed_test.cpp - when the conflict check cannot be trusted the UDP path fails with the
// documented errno and leaves the socket without lock or association: no fd left for netlink
// (EMFILE), udp_diag not answering (EPROTONOSUPPORT), malformed/truncated/foreign replies (EPROTO),
// silence (ETIMEDOUT). A fake kernel answers on a socketpair injected in place of the netlink
// socket of the namespace.
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "netns_registry.hpp"
#include "support/netns.hpp"
#include "support/udp_util.hpp"
#include "support/unique_fd.hpp"

namespace {

using cxtest::dst_v4;
using cxtest::udp_connectx;
using cxtest::udp_socket;
using cxtest::v4;

constexpr uint32_t kFakePortid = 4242;

enum class reply { enoent, truncated, wrong_seq, wrong_portid, silence, foreign, two_messages };

void answer(int fd, reply how);

// Answers every request on `fd` the way `how` says, as the kernel would have (or not), until no
// request comes for 500 ms.
void fake_kernel(int fd, reply how) {
    timeval tv{0, 500000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    answer(fd, how);
}

void answer(int fd, reply how) {
    for (;;) {
        alignas(4) uint8_t req[256];
        ssize_t n = ::recv(fd, req, sizeof req, 0);
        if (n < ssize_t(sizeof(nlmsghdr) + sizeof(inet_diag_req_v2))) return;
        nlmsghdr h;
        inet_diag_req_v2 r;
        std::memcpy(&h, req, sizeof h);
        std::memcpy(&r, req + sizeof h, sizeof r);
        alignas(4) uint8_t out[512] = {};
        auto* oh = reinterpret_cast<nlmsghdr*>(out);
        oh->nlmsg_seq = how == reply::wrong_seq ? h.nlmsg_seq + 1 : h.nlmsg_seq;
        oh->nlmsg_pid = how == reply::wrong_portid ? kFakePortid + 1 : kFakePortid;
        size_t len;
        if (how == reply::silence) continue;
        if (how == reply::enoent) {
            oh->nlmsg_type = NLMSG_ERROR;
            oh->nlmsg_len = sizeof(nlmsghdr) + sizeof(nlmsgerr);
            nlmsgerr err{};
            err.error = -ENOENT;
            err.msg = h;
            std::memcpy(out + sizeof(nlmsghdr), &err, sizeof err);
            len = oh->nlmsg_len;
        } else {
            oh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
            oh->nlmsg_len = sizeof(nlmsghdr) + sizeof(inet_diag_msg);
            inet_diag_msg m{};
            m.idiag_family = AF_INET;
            m.id.idiag_sport = r.id.idiag_dport;  // echo the local port
            m.id.idiag_cookie[0] = 12345;
            std::memcpy(out + sizeof(nlmsghdr), &m, sizeof m);
            len = oh->nlmsg_len;
            if (how == reply::truncated) len = sizeof(nlmsghdr) + 20;
            if (how == reply::two_messages) {
                std::memcpy(out + len, out, len);
                len *= 2;
            }
        }
        ::send(fd, out, len, 0);
    }
}

// In a fresh namespace: makes the namespace state, swaps its diag socket for a fake answering
// `how`, runs connectx(src, dst) and returns its errno. The socket must end clean.
// The only port connectx may use (ip_local_port_range 40001-40001, or src's own port) is held
// toward another destination by a socket with SO_REUSEADDR: a bind alone fails there, and the
// lock and its lookups, which are under test, run.
int connectx_against(reply how, const char* src_text, bool answered_before = false) {
    cx::detail::nl_set_timeout_ms(200);
    auto src = v4(src_text);
    EXPECT_EQ(cxtest::write_sysctl("net/ipv4/ip_local_port_range", "40001 40001"), 0);
    auto held = src;
    if (held.port() == 0) held.set_port(40001);
    int holder = cxtest::udp_bound(held, true);
    EXPECT_EQ(::connect(holder, dst_v4(2, 5353).sa(), dst_v4(2, 5353).size()), 0);
    if (answered_before) {  // a real lookup first: the namespace's udp_diag is known to answer
        cxtest::unique_fd warm(udp_socket(AF_INET));
        EXPECT_EQ(udp_connectx(warm, &src, dst_v4(3, 5353)), 0);
        warm.reset();
    }
    int sp[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sp), 0);
    cxtest::unique_fd fd(udp_socket(AF_INET));
    EXPECT_EQ(cx::detail::netns_test_inject(fd, NETLINK_SOCK_DIAG, sp[0], kFakePortid), 0);
    std::thread kernel(fake_kernel, sp[1], how);
    int e = udp_connectx(fd, &src, dst_v4(0, 5353));
    kernel.join();
    EXPECT_FALSE(cxtest::is_connected(fd)) << "association left after failure";
    bool locked = cxtest::local_port_of(fd) != 0 && cxtest::reuseaddr_of(fd) == 0;
    EXPECT_FALSE(locked) << "port left locked after failure";
    fd.reset();
    ::close(sp[1]);
    ::close(holder);
    return e;
}

TEST(UdpFailClosed, NoFdForNetlinkGivesEmfileAndTouchesNothing) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        cxtest::unique_fd fd(udp_socket(AF_INET));
        rlimit old{};
        getrlimit(RLIMIT_NOFILE, &old);
        rlimit lim = old;
        lim.rlim_cur = rlim_t(fd + 1);
        ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &lim), 0);
        std::vector<int> fillers;  // fill every hole below the limit
        for (int f; (f = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) fillers.push_back(f);
        auto src = v4("127.0.0.1");
        int e = udp_connectx(fd, &src, dst_v4(0, 5353));
        int e_wild = udp_connectx(fd, nullptr, dst_v4(0, 5353));
        for (int f : fillers) ::close(f);
        setrlimit(RLIMIT_NOFILE, &old);
        EXPECT_EQ(e, EMFILE);
        EXPECT_EQ(e_wild, EMFILE);
        EXPECT_EQ(cxtest::local_port_of(fd), 0);
        EXPECT_EQ(cxtest::reuseaddr_of(fd), 0);
        // With fds available again, the same socket connects.
        EXPECT_EQ(udp_connectx(fd, &src, dst_v4(0, 5353)), 0);
        fd.reset();
    });
}

TEST(UdpFailClosed, NotFoundBeforeUdpDiagEverAnsweredIsEprotonosupport) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns(
        [] { EXPECT_EQ(connectx_against(reply::enoent, "127.0.0.1"), EPROTONOSUPPORT); });
}

TEST(UdpFailClosed, OwnBoundSocketNotFoundAfterUdpDiagAnsweredIsEproto) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns(
        [] { EXPECT_EQ(connectx_against(reply::enoent, "127.0.0.1", true), EPROTO); });
}

TEST(UdpFailClosed, TruncatedReplyIsEproto) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns(
        [] { EXPECT_EQ(connectx_against(reply::truncated, "127.0.0.1"), EPROTO); });
}

TEST(UdpFailClosed, ReplyWithAnotherSequenceNumberIsEproto) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns(
        [] { EXPECT_EQ(connectx_against(reply::wrong_seq, "127.0.0.1"), EPROTO); });
}

TEST(UdpFailClosed, ReplyForAnotherPortIdIsEproto) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns(
        [] { EXPECT_EQ(connectx_against(reply::wrong_portid, "127.0.0.1"), EPROTO); });
}

TEST(UdpFailClosed, TwoMessagesWhereOneIsExpectedIsEproto) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns(
        [] { EXPECT_EQ(connectx_against(reply::two_messages, "127.0.0.1"), EPROTO); });
}

TEST(UdpFailClosed, NoReplyIsEtimedout) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns(
        [] { EXPECT_EQ(connectx_against(reply::silence, "127.0.0.1"), ETIMEDOUT); });
}

TEST(UdpFailClosed, ExplicitPortTakenByAnotherCookieIsEaddrinuseBeforeBinding) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns(
        [] { EXPECT_EQ(connectx_against(reply::foreign, "127.0.0.1:40001"), EADDRINUSE); });
}

TEST(UdpFailClosed, BrokenSocketIsNotReusedByTheNextCall) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        EXPECT_EQ(connectx_against(reply::silence, "127.0.0.1"), ETIMEDOUT);
        // The fake was discarded: the next call opens a real netlink socket and succeeds.
        auto src = v4("127.0.0.1");
        cxtest::unique_fd fd(udp_socket(AF_INET));
        EXPECT_EQ(udp_connectx(fd, &src, dst_v4(1, 5353)), 0);
        fd.reset();
    });
}

}  // namespace
