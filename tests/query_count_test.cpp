// query_count_test.cpp - which system calls connectx() makes on the socket, in order. Their
// count is the cost on the hot path (README, "Performance"), and a change that adds one should
// fail here, not only in a benchmark nobody reruns. This binary defines the socket calls the
// library makes; the library's calls land here, are written down for the watched socket, and go
// on to the kernel with syscall(2). io_uring_enter(2), which carries several of them where the
// kernel can (src/sock_ops.hpp), is written down as one call with the number it submits.
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "sock_ops.hpp"
#include "support/netns.hpp"
#include "support/udp_util.hpp"
#include "support/unique_fd.hpp"

namespace {

int g_watched = -1;
std::vector<std::string> g_calls;

void note(int fd, std::string what) {
    if (fd == g_watched) g_calls.push_back(std::move(what));
}

std::string opt(const char* call, int level, int name) {
    return std::string(call) + "(" + std::to_string(level) + "," + std::to_string(name) + ")";
}

}  // namespace

extern "C" {
long syscall(long n, ...) {
    using real_t = long (*)(long, ...);
    static const auto real = reinterpret_cast<real_t>(dlsym(RTLD_NEXT, "syscall"));
    va_list ap;
    va_start(ap, n);
    long a[6];
    for (long& v : a) v = va_arg(ap, long);
    va_end(ap);
    if (n == SYS_io_uring_enter && g_watched >= 0 && a[1] > 0)
        g_calls.push_back("io_uring_enter(" + std::to_string(a[1]) + ")");
    return real(n, a[0], a[1], a[2], a[3], a[4], a[5]);
}
int getsockopt(int fd, int level, int name, void* value, socklen_t* len) {
    note(fd, opt("getsockopt", level, name));
    return int(syscall(SYS_getsockopt, fd, level, name, value, len));
}
int setsockopt(int fd, int level, int name, const void* value, socklen_t len) {
    note(fd, opt("setsockopt", level, name));
    return int(syscall(SYS_setsockopt, fd, level, name, value, len));
}
int getsockname(int fd, sockaddr* sa, socklen_t* len) {
    note(fd, "getsockname");
    return int(syscall(SYS_getsockname, fd, sa, len));
}
int bind(int fd, const sockaddr* sa, socklen_t len) {
    note(fd, "bind");
    return int(syscall(SYS_bind, fd, sa, len));
}
int connect(int fd, const sockaddr* sa, socklen_t len) {
    note(fd, "connect");
    return int(syscall(SYS_connect, fd, sa, len));
}
}

namespace {

using cxtest::v4;
using calls = std::vector<std::string>;

const std::string kIsMptcp = opt("getsockopt", IPPROTO_TCP, 43);  // TCP_IS_MPTCP
const std::string kSyncnt = opt("getsockopt", IPPROTO_TCP, 7);    // TCP_SYNCNT
const std::string kProtocol = opt("getsockopt", SOL_SOCKET, SO_PROTOCOL);
const std::string kNoPort = opt("setsockopt", IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT);
// The caller's IP_BIND_ADDRESS_NO_PORT, read so that a failure can leave it as it was.
const std::string kNoPortWas = opt("getsockopt", IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT);

// connectx() on a fresh socket of `type` (SO_REUSEADDR set first if `reuse`); the calls it made
// on it.
calls calls_of(int type, const cx::address* src, const cx::address& dst, bool reuse = false) {
    cxtest::unique_fd fd(::socket(dst.family(), type | SOCK_CLOEXEC, 0));
    EXPECT_GE(fd, 0);
    int one = 1;
    if (reuse) {
        EXPECT_EQ(::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), 0);
    }
    g_calls.clear();
    g_watched = fd;
    int rc = connectx(fd, src ? src->sa() : nullptr, src ? src->size() : 0, dst.sa(), dst.size(),
                      nullptr);
    EXPECT_EQ(rc, 0) << strerror(errno);
    g_watched = -1;
    fd.reset();
    return g_calls;
}

// Does the running kernel answer TCP_IS_MPTCP (6.5+)?
bool kernel_answers_is_mptcp() {
    cxtest::unique_fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    int v;
    socklen_t len = sizeof v;
    bool has = ::getsockopt(fd, IPPROTO_TCP, 43, &v, &len) == 0;
    fd.reset();
    return has;
}

// The calls of TCP with a source IP: `questions`, then the technique.
// What this kernel's ring carries (src/sock_ops.hpp): several getsockopt; a setsockopt and a
// bind. Asked on a socket of its own, not watched.
struct ring_carries {
    bool gets = false;
    bool binds = false;
};
// A thread has a ring only after its first batches (sock_ops::kCallsBeforeRing): this makes them.
ring_carries ring_here() {
    const bool gets = cxtest::warm_thread_ring();
    cxtest::unique_fd probe(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    auto any = cxtest::v4("127.0.0.1:0");
    cx::detail::sock_ops binds(probe, cx::detail::sock_ops::mode::chain);
    binds.set(SOL_SOCKET, SO_REUSEADDR, 0);
    binds.bind(any.sa(), any.size());
    binds.run();
    return {gets, binds.in_ring() == 2};
}

// The calls of TCP with a source IP: `questions`, then the technique (its option and bind in one
// io_uring_enter where the kernel can).
calls with_source(calls questions) {
    if (ring_here().binds)
        questions.insert(questions.end(), {kNoPortWas, "io_uring_enter(2)", "connect"});
    else
        questions.insert(questions.end(), {kNoPortWas, kNoPort, "bind", "connect"});
    return questions;
}
const calls kTwoQuestions{kProtocol, "getsockname"};

TEST(QueryCountNetns, TcpWithSourceIpAsksOneQuestionBeforeBinding) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        auto dst = v4("127.0.1.1:8080");
        auto src = v4("127.0.0.1");
        cxtest::unique_fd l(cxtest::tcp_listener(dst));
        const bool is_mptcp = kernel_answers_is_mptcp();
        std::printf("this kernel %s TCP_IS_MPTCP\n", is_mptcp ? "answers" : "refuses");
        (void)ring_here();  // this thread's ring made, if the kernel gives one
        if (!is_mptcp) {
            // The first call learns that the kernel lacks TCP_IS_MPTCP, and asks TCP_SYNCNT
            // from then on.
            EXPECT_EQ(calls_of(SOCK_STREAM, &src, dst),
                      with_source({kIsMptcp, kProtocol, "getsockname"}));
        }
        for (int i = 0; i < 3; ++i)
            EXPECT_EQ(calls_of(SOCK_STREAM, &src, dst),
                      with_source({is_mptcp ? kIsMptcp : kSyncnt}));

        // MPTCP answers TCP_SYNCNT on no kernel, and TCP_IS_MPTCP with 1: it is not TCP.
        cxtest::unique_fd m(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 262 /* IPPROTO_MPTCP */));
        if (m >= 0) {
            EXPECT_EQ(connectx(m, src.sa(), src.size(), dst.sa(), dst.size(), nullptr), -1);
            EXPECT_EQ(errno, EPROTOTYPE);
            m.reset();
        } else {
            std::printf("no MPTCP here: %s\n", strerror(errno));
        }
        l.reset();
    });
}

TEST(QueryCountNetns, TcpWithoutSourceChecksTheSocketToo) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        auto dst = v4("127.0.1.1:8080");
        cxtest::unique_fd l(cxtest::tcp_listener(dst));
        calls_of(SOCK_STREAM, nullptr, dst);  // on kernels before 6.5, learns TCP_SYNCNT
        calls want{kernel_answers_is_mptcp() ? kIsMptcp : kSyncnt, "getsockname", "connect"};
        EXPECT_EQ(calls_of(SOCK_STREAM, nullptr, dst), want);
        l.reset();
    });
}

// One TCP call in 16 of a thread (tcp_fill.hpp) also asks which port it got, to find a
// destination whose range is past the kernel's first pass; the first such call also reads the
// namespace's range (SO_NETNS_COOKIE, then the sysctls through files it opens once). Each call
// here leaves its port in TIME_WAIT: 1,024 ports keep the kernel in its first pass, so nothing
// gets busy and no other call changes.
TEST(QueryCountNetns, TcpSamplesOneCallInSixteen) {
    CXTEST_REQUIRE_NETNS();
    cxtest::netns_options opt;
    opt.port_hi = opt.port_lo + 1023;
    cxtest::run_in_netns(opt, [] {
        auto dst = v4("127.0.1.1:8080");
        auto src = v4("127.0.0.1");
        cxtest::unique_fd l(cxtest::tcp_listener(dst));
        (void)ring_here();                 // this thread's ring made, if the kernel gives one
        calls_of(SOCK_STREAM, &src, dst);  // on kernels before 6.5, learns TCP_SYNCNT
        const calls plain = calls_of(SOCK_STREAM, &src, dst);
        int samples = 0;
        for (int i = 3; i <= 48; ++i) {
            calls got = calls_of(SOCK_STREAM, &src, dst);
            if (i % 16 != 0) {
                EXPECT_EQ(got, plain) << "call " << i;
                continue;
            }
            ++samples;
            // The technique, then the sample's getsockname (and, the first time, the cookie).
            ASSERT_GE(got.size(), plain.size() + 1) << "call " << i;
            EXPECT_EQ(calls(got.begin(), got.begin() + long(plain.size())), plain);
            EXPECT_EQ(got[plain.size()], "getsockname");
            if (samples > 1) {
                EXPECT_EQ(got.size(), plain.size() + 1) << "call " << i;
            }
        }
        EXPECT_EQ(samples, 3);
        l.reset();
    });
}

// After a UDP call the next one asks UDP's two questions first. Back on TCP, the first call asks
// those two as well, and the next ones TCP's one again.
TEST(QueryCountNetns, EachKindAsksItsOwnQuestionFirst) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        auto dst = v4("127.0.1.1:8080");
        auto src = v4("127.0.0.1");
        cxtest::unique_fd l(cxtest::tcp_listener(dst));
        const bool is_mptcp = kernel_answers_is_mptcp();
        (void)ring_here();  // this thread's ring made, if the kernel gives one

        calls first_udp = calls_of(SOCK_DGRAM, &src, dst);
        // UDP's questions: SO_PROTOCOL, with the UDP path's first ones in one io_uring_enter
        // where the kernel can (QueryCountNetns.UdpWithSourceIp...), then getsockname.
        const calls udp_questions = calls_of(SOCK_DGRAM, &src, dst)[0] == kProtocol
                                        ? kTwoQuestions
                                        : calls{"io_uring_enter(4)", "getsockname"};
        ASSERT_GE(first_udp.size(), 3u);
        EXPECT_EQ(first_udp[0], kIsMptcp) << "TCP's question first, in a new process";
        for (int i = 0; i < 2; ++i) {
            calls udp = calls_of(SOCK_DGRAM, &src, dst);
            ASSERT_GE(udp.size(), 2u);
            EXPECT_EQ(calls(udp.begin(), udp.begin() + 2), udp_questions);
        }
        EXPECT_EQ(calls_of(SOCK_STREAM, &src, dst), with_source(udp_questions));
        if (!is_mptcp) {
            EXPECT_EQ(calls_of(SOCK_STREAM, &src, dst),
                      with_source({kIsMptcp, kProtocol, "getsockname"}));
        }
        EXPECT_EQ(calls_of(SOCK_STREAM, &src, dst), with_source({is_mptcp ? kIsMptcp : kSyncnt}));
        l.reset();
    });
}

const std::string kRange = opt("getsockopt", IPPROTO_IP, 51);
const std::string kSetRange = opt("setsockopt", IPPROTO_IP, 51);
const std::string kSetReuse = opt("setsockopt", SOL_SOCKET, SO_REUSEADDR);

// A UDP call's questions before its port search: with SO_PROTOCOL in one io_uring_enter where the
// kernel can (socket commands from 6.7), one by one where it cannot; then the two io_uring
// cannot carry, getsockname and the socket's own IP_LOCAL_PORT_RANGE.
calls udp_questions(bool ring_gets) {
    if (ring_gets) return {"io_uring_enter(4)", "getsockname", kRange};
    return {kProtocol,
            "getsockname",
            opt("getsockopt", SOL_SOCKET, SO_REUSEPORT),
            opt("getsockopt", SOL_SOCKET, 71),
            opt("getsockopt", SOL_SOCKET, SO_REUSEADDR),
            kRange};
}

// Three UDP calls with a source IP on fresh sockets (SO_REUSEADDR set first if `reuse`) make
// their questions, then `batched` where the kernel's ring carries a bind (6.11), `one_by_one`
// where it does not.
void expect_udp_calls(bool reuse, const calls& batched, const calls& one_by_one) {
    auto dst = v4("127.0.1.1:53");
    auto src = v4("127.0.0.1");
    const auto [ring_gets, ring_binds] = ring_here();
    calls expected = udp_questions(ring_gets);
    const calls& tail = ring_binds ? batched : one_by_one;
    expected.insert(expected.end(), tail.begin(), tail.end());
    (void)calls_of(SOCK_DGRAM, &src, dst, reuse);  // the last socket was UDP from now on
    for (int i = 0; i < 3; ++i) EXPECT_EQ(calls_of(SOCK_DGRAM, &src, dst, reuse), expected) << i;
}

// The port bound alone: the bind with what surrounds it in one io_uring_enter.
TEST(QueryCountNetns, UdpWithSourceIpAsksInTwoBatchesWhereTheKernelCan) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        expect_udp_calls(false, {"io_uring_enter(5)"},
                         {kSetRange, "bind", "connect", kSetReuse, kSetRange});
    });
}

// The caller's SO_REUSEADDR makes every call take the lock: its bind, the lock and the cookie in
// one batch, the lookup (on the netlink socket, not watched here), then connect, the share and
// the range put back in another. (IP_BIND_ADDRESS_NO_PORT is not read before the process has
// seen it set: socket_state_test's UdpNoPort.LockedReachesTheWholeRange.)
TEST(QueryCountNetns, UdpLockAsksInThreeBatchesAroundItsLookupWhereTheKernelCan) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        expect_udp_calls(
            true, {"io_uring_enter(5)", "io_uring_enter(3)"},
            {kSetReuse, kSetRange, "bind", kSetReuse, opt("getsockopt", SOL_SOCKET, SO_COOKIE),
             "connect", kSetReuse, kSetRange});
    });
}

}  // namespace
