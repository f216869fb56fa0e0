// tcp_fill_test.cpp - TCP toward one destination filled to the last port once the port hint is in
// use (tcp_fill.hpp): exactly the range then EADDRNOTAVAIL, ports freed by closes the library
// never saw used again, another process's ports, a changed range, reserved ports, and the
// socket's options as the caller had them after a failure. Each test in a private namespace with
// 64 ports (40000-40063): the kernel's first pass takes the 32 even ports, and a sampled call
// past it makes the destination busy.
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "support/netns.hpp"
#include "support/rtnl.hpp"
#include "support/unique_fd.hpp"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif
#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51
#endif

namespace {

constexpr uint16_t kLo = 40000, kHi = 40063;
constexpr int kRange = kHi - kLo + 1;

// One connectx() on a fresh TCP socket (kept open on success), and what it reported.
struct call {
    int fd = -1;
    int err = 0;
    uint16_t port = 0;
    uint32_t attempts = 0;
    bool hinted = false;  // the socket's IP_LOCAL_PORT_RANGE is [port, port]: the hint was used
};

int get_int(int fd, int level, int name) {
    int v = -1;
    socklen_t len = sizeof v;
    if (getsockopt(fd, level, name, &v, &len) != 0) return -1;
    return v;
}

// connectx(src or none, dst) on `fd` (a fresh socket unless given).
call connect_one(const cx::address* src, const cx::address& dst, int fd = -1) {
    call c;
    c.fd = fd >= 0 ? fd : ::socket(dst.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    connectx_result res{};
    connectx_opts opts{};
    opts.size = sizeof opts;
    opts.result = &res;
    if (connectx(c.fd, src ? src->sa() : nullptr, src ? src->size() : 0, dst.sa(), dst.size(),
                 &opts) != 0) {
        c.err = errno;
        return c;  // the caller closes: some tests look at the socket after the failure
    }
    auto local =
        cx::address::from_sockaddr(reinterpret_cast<const sockaddr*>(&res.local), sizeof res.local);
    c.port = local ? local->port() : 0;
    c.attempts = res.attempts;
    uint32_t range = 0;
    socklen_t len = sizeof range;
    c.hinted = getsockopt(c.fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &range, &len) == 0 &&
               range == (uint32_t(c.port) << 16 | c.port);
    return c;
}

// Calls until one fails (at most `limit`): the open ones in `open`, the failure returned.
call fill(const cx::address* src, const cx::address& dst, std::vector<call>& open,
          int limit = 4 * kRange) {
    for (int i = 0; i < limit; ++i) {
        call c = connect_one(src, dst);
        if (c.err) {
            ::close(c.fd);
            return c;
        }
        open.push_back(c);
    }
    return call{};
}

int hinted(const std::vector<call>& calls) {
    int n = 0;
    for (const call& c : calls) n += c.hinted;
    return n;
}

// Calls that used the hint: given a port that was free, or given one taken since the hint was
// made (by a socket it never saw) and retried over the whole range.
int hint_in_use(const std::vector<call>& calls) {
    int n = 0;
    for (const call& c : calls) n += c.hinted || c.attempts == 2;
    return n;
}

// Closes at once (SO_LINGER 0: a reset, no TIME_WAIT), so the port is free toward the
// destination again.
void close_now(int fd) {
    linger l{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    ::close(fd);
}

void close_all(std::vector<call>& open) {
    for (call& c : open) close_now(c.fd);
    open.clear();
}

bool kernel_has_local_port_range() {
    cxtest::unique_fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    uint32_t v = uint32_t(kLo + 1) << 16 | kLo;
    return setsockopt(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &v, sizeof v) == 0;
}

// Every port of `open` distinct, inside [lo, hi], none in `reserved`.
void expect_ports(const std::vector<call>& open, uint16_t lo, uint16_t hi,
                  const std::set<uint16_t>& reserved = {}) {
    std::set<uint16_t> seen;
    for (const call& c : open) {
        EXPECT_GE(c.port, lo);
        EXPECT_LE(c.port, hi);
        EXPECT_EQ(reserved.count(c.port), 0u) << "reserved port " << c.port << " used";
        EXPECT_TRUE(seen.insert(c.port).second) << "port " << c.port << " twice";
    }
}

// Fills on from `open` until connectx fails: expects EADDRNOTAVAIL once `want` are open, each on
// its own port of [kLo, kHi] outside `reserved`.
void expect_fill_to(const cx::address* src, const cx::address& dst, std::vector<call>& open,
                    int want, const std::set<uint16_t>& reserved = {}) {
    call last = fill(src, dst, open);
    EXPECT_EQ(last.err, EADDRNOTAVAIL) << strerror(last.err);
    EXPECT_EQ(int(open.size()), want);
    expect_ports(open, kLo, kHi, reserved);
}

const cx::address kDst = cxtest::dst_v4(0, 8080);

TEST(TcpFillNetns, SourceIpFillsToTheLastPortWithTheHintThenEaddrnotavail) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        cxtest::unique_fd l(cxtest::tcp_listener(kDst));
        const auto src = cxtest::v4(cxtest::kSrcV4);
        std::vector<call> open;
        expect_fill_to(&src, kDst, open, kRange);
        if (kernel_has_local_port_range()) {
            EXPECT_GT(hinted(open), 0) << "the hint was never used past the first pass";
        } else {
            EXPECT_EQ(hinted(open), 0);
        }
        close_all(open);
    });
}

TEST(TcpFillNetns, DestinationOnlyFillsToTheLastPortThenEaddrnotavail) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        cxtest::unique_fd l(cxtest::tcp_listener(kDst));
        std::vector<call> open;
        expect_fill_to(nullptr, kDst, open, kRange);
        if (kernel_has_local_port_range()) {
            EXPECT_GT(hinted(open), 0);
        }
        close_all(open);
    });
}

TEST(TcpFillNetns, PortFreedByACloseTheLibraryNeverSawIsUsedAgain) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        cxtest::unique_fd l(cxtest::tcp_listener(kDst));
        const auto src = cxtest::v4(cxtest::kSrcV4);
        std::vector<call> open;
        ASSERT_EQ(fill(&src, kDst, open).err, EADDRNOTAVAIL);
        ASSERT_EQ(int(open.size()), kRange);
        // Two closes, one port each time: the hint still has them marked, the kernel finds them.
        for (size_t victim : {size_t(5), size_t(kRange - 3)}) {
            const uint16_t freed = open[victim].port;
            close_now(open[victim].fd);
            call again = connect_one(&src, kDst);
            ASSERT_EQ(again.err, 0) << strerror(again.err);
            EXPECT_EQ(again.port, freed);
            open[victim] = again;
        }
        call over = connect_one(&src, kDst);
        EXPECT_EQ(over.err, EADDRNOTAVAIL);
        ::close(over.fd);
        close_all(open);
    });
}

TEST(TcpFillNetns, PortsAnotherProcessTookAfterTheHintWasMadeCostARetryNotAFailure) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        cxtest::unique_fd l(cxtest::tcp_listener(kDst));
        const auto src = cxtest::v4(cxtest::kSrcV4);
        std::vector<call> open;
        fill(&src, kDst, open, 52);  // past the sample at call 48: the hint is made
        ASSERT_EQ(open.size(), 52u);
        // Another process takes 6 ports toward the destination with the plain technique, and
        // holds them until told.
        int go[2], done[2];
        ASSERT_EQ(pipe(go), 0);
        ASSERT_EQ(pipe(done), 0);
        pid_t child = fork();
        if (child == 0) {
            std::vector<int> fds;
            for (int i = 0; i < 6; ++i) {
                int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                int one = 1;
                setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
                if (bind(fd, src.sa(), src.size()) != 0 || connect(fd, kDst.sa(), kDst.size()))
                    _exit(1);
                fds.push_back(fd);
            }
            char c = 0;
            if (write(done[1], &c, 1) != 1 || read(go[0], &c, 1) != 1) _exit(2);
            _exit(0);
        }
        char c;
        ASSERT_EQ(read(done[0], &c, 1), 1) << "the other process failed to connect";
        std::vector<call> more;
        call last = fill(&src, kDst, more);
        EXPECT_EQ(int(open.size() + more.size()), kRange - 6);
        EXPECT_EQ(last.err, EADDRNOTAVAIL);
        uint32_t retries = 0;
        for (const call& m : more) retries += m.attempts == 2;
        if (kernel_has_local_port_range()) {
            EXPECT_GT(retries, 0u) << "the hint never gave a port the other process held";
        }
        open.insert(open.end(), more.begin(), more.end());
        expect_ports(open, kLo, kHi);
        ASSERT_EQ(write(go[1], &c, 1), 1);
        int status = 0;
        waitpid(child, &status, 0);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        close_all(open);
    });
}

TEST(TcpFillNetns, RangeChangedAfterTheHintWasMadeIsHonouredByTheNextCall) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        cxtest::unique_fd l(cxtest::tcp_listener(kDst));
        const auto src = cxtest::v4(cxtest::kSrcV4);
        std::vector<call> open;
        fill(&src, kDst, open, 56);
        ASSERT_EQ(open.size(), 56u);
        if (kernel_has_local_port_range()) {
            // All 8 calls past the sample may be retries (the ports of the second pass before the
            // sample are unknown to the hint): what matters here is that the hint is in use.
            ASSERT_GT(hint_in_use(open), 0);
        }
        // A range the hint knows nothing of, and then one inside the old range.
        ASSERT_EQ(cxtest::write_sysctl("net/ipv4/ip_local_port_range", "41000 41063"), 0);
        std::vector<call> moved;
        fill(&src, kDst, moved, 8);
        ASSERT_EQ(moved.size(), 8u);
        expect_ports(moved, 41000, 41063);
        ASSERT_EQ(cxtest::write_sysctl("net/ipv4/ip_local_port_range", "40060 40063"), 0);
        std::vector<call> narrow;
        call last = fill(&src, kDst, narrow);
        EXPECT_EQ(last.err, EADDRNOTAVAIL);
        open.insert(open.end(), moved.begin(), moved.end());
        open.insert(open.end(), narrow.begin(), narrow.end());
        expect_ports(narrow, 40060, 40063);
        expect_ports(open, kLo, 41063);
        close_all(open);
    });
}

TEST(TcpFillNetns, ReservedPortsAreNeverUsedEvenWhenReservedAfterTheHintWasMade) {
    CXTEST_REQUIRE_NETNS();
    cxtest::netns_options opt;
    opt.reserved_ports = "40001,40010-40013";
    cxtest::run_in_netns(opt, [] {
        cxtest::unique_fd l(cxtest::tcp_listener(kDst));
        const auto src = cxtest::v4(cxtest::kSrcV4);
        std::vector<call> open;
        fill(&src, kDst, open, 52);
        ASSERT_EQ(open.size(), 52u);
        // Reserve every port still free now: the hint believes them free.
        std::set<uint16_t> used, reserved = {40001, 40010, 40011, 40012, 40013};
        for (const call& c : open) used.insert(c.port);
        std::string list = "40001,40010-40013";
        int late = 0;
        for (uint16_t p = kLo; p <= kHi && late < 4; ++p) {
            if (used.count(p) || reserved.count(p)) continue;
            reserved.insert(p);
            list += "," + std::to_string(p);
            ++late;
        }
        ASSERT_EQ(cxtest::write_sysctl("net/ipv4/ip_local_reserved_ports", list), 0);
        expect_fill_to(&src, kDst, open, kRange - int(reserved.size()), reserved);
        close_all(open);
    });
}

TEST(TcpFillNetns, FailureLeavesTheSocketsOptionsAsTheCallerHadThem) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        cxtest::unique_fd l(cxtest::tcp_listener(kDst));
        const auto src = cxtest::v4(cxtest::kSrcV4);
        std::vector<call> open;
        ASSERT_EQ(fill(&src, kDst, open).err, EADDRNOTAVAIL);
        const bool lpr = kernel_has_local_port_range();
        // Each (IP_BIND_ADDRESS_NO_PORT, IP_LOCAL_PORT_RANGE) the caller may have set.
        const uint32_t own_range = uint32_t(kHi) << 16 | (kHi - 7);
        for (int no_port : {0, 1}) {
            for (uint32_t range : {0u, own_range}) {
                if (range && !lpr) continue;
                for (const cx::address* s : {&src, static_cast<const cx::address*>(nullptr)}) {
                    cxtest::unique_fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
                    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &no_port, sizeof no_port);
                    if (lpr) setsockopt(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &range, sizeof range);
                    call c = connect_one(s, kDst, fd);
                    EXPECT_EQ(c.err, EADDRNOTAVAIL);
                    EXPECT_EQ(get_int(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT), no_port);
                    if (lpr) {
                        EXPECT_EQ(uint32_t(get_int(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE)), range);
                    }
                }
            }
        }
        // After one close, a socket with its own range gets a port inside it, or EADDRNOTAVAIL.
        if (lpr) {
            size_t in_own = 0;
            while (in_own < open.size() && open[in_own].port < kHi - 7) ++in_own;
            ASSERT_LT(in_own, open.size());
            const uint16_t freed = open[in_own].port;
            close_now(open[in_own].fd);
            open.erase(open.begin() + long(in_own));
            cxtest::unique_fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
            setsockopt(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &own_range, sizeof own_range);
            call c = connect_one(&src, kDst, fd);
            EXPECT_EQ(c.err, 0) << strerror(c.err);
            EXPECT_EQ(c.port, freed);
            EXPECT_EQ(uint32_t(get_int(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE)), own_range);
        }
        close_all(open);
    });
}

// After kRefreshMs the hint is made again from a SOCK_DIAG dump of the sockets toward the
// destination: exact, so the fill goes on without retries; once fewer than half the ports are
// taken the destination is no longer busy and the kernel searches as always.
TEST(TcpFillNetns, HintIsRemadeFromADumpAndDroppedWhenNoLongerBusy) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        const bool lpr = kernel_has_local_port_range();  // else no hint, the same ports
        cxtest::unique_fd l(cxtest::tcp_listener(kDst));
        const auto src = cxtest::v4(cxtest::kSrcV4);
        std::vector<call> open;
        fill(&src, kDst, open, 50);
        ASSERT_EQ(open.size(), 50u);
        usleep(1100 * 1000);  // past kRefreshMs
        std::vector<call> more;
        call last = fill(&src, kDst, more);
        EXPECT_EQ(last.err, EADDRNOTAVAIL);
        EXPECT_EQ(int(more.size()), kRange - 50);
        EXPECT_EQ(hinted(more), lpr ? kRange - 50 : 0) << "every call after the dump hinted";
        for (const call& m : more) EXPECT_EQ(m.attempts, 0u) << "a retry after an exact dump";
        open.insert(open.end(), more.begin(), more.end());
        expect_ports(open, kLo, kHi);
        // Down to 8 held: the next refresh finds the destination no longer busy.
        while (open.size() > 8) {
            close_now(open.back().fd);
            open.pop_back();
        }
        usleep(1100 * 1000);
        call c = connect_one(&src, kDst);
        EXPECT_EQ(c.err, 0);
        EXPECT_FALSE(c.hinted);
        close_now(c.fd);
        close_all(open);
    });
}

// The hint is the socket's namespace's: the same addresses in another namespace, whose range is
// empty, get that namespace's ports and no hint, and the first namespace still fills exactly.
TEST(TcpFillNetns, BusyInOneNamespaceIsNotBusyInAnother) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        cxtest::unique_fd l(cxtest::tcp_listener(kDst));
        const auto src = cxtest::v4(cxtest::kSrcV4);
        std::vector<call> open;
        fill(&src, kDst, open, 52);
        ASSERT_EQ(open.size(), 52u);
        std::thread([&] {
            ASSERT_EQ(unshare(CLONE_NEWNET), 0) << strerror(errno);
            ASSERT_EQ(cxtest::link_up("lo"), 0);
            ASSERT_EQ(cxtest::write_sysctl("net/ipv4/ip_local_port_range", "50000 50063"), 0);
            cxtest::unique_fd other(cxtest::tcp_listener(kDst));
            std::vector<call> there;
            fill(&src, kDst, there, 8);
            ASSERT_EQ(there.size(), 8u);
            for (const call& c : there) {
                EXPECT_GE(c.port, 50000);
                EXPECT_LE(c.port, 50063);
            }
            EXPECT_EQ(hinted(there), 0);
            close_all(there);
        }).join();
        expect_fill_to(&src, kDst, open, kRange);
        close_all(open);
    });
}

TEST(TcpFillNetns, Ipv6SourceFillsToTheLastPortThenEaddrnotavail) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        const cx::address dst = cxtest::dst_v6(0, 8080);
        cxtest::unique_fd l(cxtest::tcp_listener(dst));
        const auto src = cxtest::v4(cxtest::kSrcV6);
        std::vector<call> open;
        expect_fill_to(&src, dst, open, kRange);
        if (kernel_has_local_port_range()) {
            EXPECT_GT(hinted(open), 0);
        }
        close_all(open);
    });
}

}  // namespace
