// tcp_connect_test.cpp - the TCP path on the real kernel, each test in a private namespace:
// ceilings of bind-before-connect vs connectx, 4-tuple conflicts, port ranges, IPv6, non-blocking.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <vector>

#include "support/netns.hpp"

namespace {

using cxtest::dst_v4;
using cxtest::v4;

constexpr uint16_t kPort = 8080;

// Opens TCP connections with `open_one` until it fails; returns count and the failing errno.
template <class F>
std::pair<int, int> fill(F open_one, std::vector<int>& fds, int limit) {
    for (int i = 0; i < limit; ++i) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return {i, errno};
        if (int e = open_one(fd, i)) {
            ::close(fd);
            return {i, e};
        }
        fds.push_back(fd);
    }
    return {limit, 0};
}

TEST(TcpConnectxNetns, BindBeforeConnectStopsAtRangeWithEaddrinuse) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        std::vector<int> listeners, fds;
        for (int d = 0; d < 4; ++d) listeners.push_back(cxtest::tcp_listener(dst_v4(d, kPort)));
        auto src = v4("127.0.0.1:0");
        auto [n, err] = fill(
            [&](int fd, int i) {
                if (::bind(fd, src.sa(), src.size()) < 0) return errno;
                auto dst = dst_v4(i % 4, kPort);
                return ::connect(fd, dst.sa(), dst.size()) < 0 ? errno : 0;
            },
            fds, 1000);
        EXPECT_EQ(n, 64);
        EXPECT_EQ(err, EADDRINUSE);
    });
}

TEST(TcpConnectxNetns, SourceIpReachesRangeTimesDestinations) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        std::vector<int> listeners, fds;
        for (int d = 0; d < 4; ++d) listeners.push_back(cxtest::tcp_listener(dst_v4(d, kPort)));
        auto src = v4("127.0.0.1");
        connectx_result res{};
        connectx_opts opts{};
        opts.size = sizeof opts;
        opts.result = &res;
        auto [n, err] = fill(
            [&](int fd, int i) {
                auto dst = dst_v4(std::min(i / 64, 3), kPort);  // one destination after another
                int rc = connectx(fd, src.sa(), src.size(), dst.sa(), dst.size(), &opts);
                if (rc == 0) {
                    EXPECT_EQ(res.technique, CONNECTX_TECH_BIND_NO_PORT);
                }
                return rc < 0 ? errno : 0;
            },
            fds, 1000);
        EXPECT_EQ(n, 256);
        EXPECT_EQ(err, EADDRNOTAVAIL);
    });
}

}  // namespace
