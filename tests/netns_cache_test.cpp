// netns_cache_test.cpp - the per-namespace registry: one state per namespace of the *socket*,
// netlink sockets that are CLOEXEC, connected to the kernel and time out, sysctl changes picked up
// by the next refresh without reopening files, and a fresh registry in a forked child.
#include "netns_registry.hpp"
#include "owned_fds.hpp"

#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <thread>

#include "support/netns.hpp"
#include "support/rtnl.hpp"
#include "support/unique_fd.hpp"

namespace {

using namespace cx::detail;

int udp() {
    return ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
}

TEST(NetlinkSocket, CloexecConnectedToTheKernelAndTimesOut) {
    nl_set_timeout_ms(100);
    nl_socket nl;
    ASSERT_EQ(nl_open(NETLINK_SOCK_DIAG, nl), 0);
    EXPECT_TRUE(fcntl(nl.fd, F_GETFD) & FD_CLOEXEC);
    sockaddr_nl peer{};
    socklen_t len = sizeof peer;
    ASSERT_EQ(getpeername(nl.fd, reinterpret_cast<sockaddr*>(&peer), &len), 0);
    EXPECT_EQ(peer.nl_pid, 0u);
    EXPECT_NE(nl.portid, 0u);
    // Another socket cannot send to it.
    nl_socket other;
    ASSERT_EQ(nl_open(NETLINK_SOCK_DIAG, other), 0);
    sockaddr_nl to{};
    to.nl_family = AF_NETLINK;
    to.nl_pid = nl.portid;
    char junk[16] = {};
    owned_fd_close(other.fd);  // tracked: a plain close would leave it for a fork child to close
    cxtest::unique_fd raw(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
    EXPECT_LT(sendto(raw, junk, sizeof junk, 0, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
    raw.reset();
    char buf[64];
    size_t got;
    EXPECT_EQ(nl_recv(nl.fd, buf, sizeof buf, got), ETIMEDOUT);
    owned_fd_close(nl.fd);
    nl_set_timeout_ms(1000);
}

TEST(NetnsRegistry, OneStatePerNamespaceOfTheSocket) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        int a = udp(), b = udp();
        {
            netns_ref ra, rb;
            ASSERT_EQ(netns_for_socket(a, ra), 0);
            ASSERT_EQ(netns_for_socket(b, rb), 0);
            EXPECT_EQ(&*ra, &*rb);
            uint64_t cookie;
            ASSERT_EQ(netns_cookie_of(a, cookie), 0);
            EXPECT_EQ(ra->cookie(), cookie);
        }
        EXPECT_EQ(netns_test_count(), 1);
        int other = -1;
        std::thread([&] {
            ASSERT_EQ(unshare(CLONE_NEWNET), 0);
            other = udp();
        }).join();
        {
            netns_ref ro, ra;
            ASSERT_EQ(netns_for_socket(other, ro), 0);  // from this thread, in the first namespace
            ASSERT_EQ(netns_for_socket(a, ra), 0);
            EXPECT_NE(&*ro, &*ra);
        }
        EXPECT_EQ(netns_test_count(), 2);
        ::close(a), ::close(b), ::close(other);
    });
}

TEST(NetnsRegistry, SysctlChangesSeenByTheNextRefreshWithoutReopening) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        cxtest::unique_fd s(udp());
        netns_ref r;
        ASSERT_EQ(netns_for_socket(s, r), 0);
        ASSERT_EQ(r->refresh_sysctls(), 0);
        {
            std::lock_guard lock(r->mu);
            EXPECT_EQ(r->range, (port_span{40000, 40063}));
            EXPECT_TRUE(r->reserved.empty());
        }
        int fds = cxtest::open_fd_count();
        ASSERT_EQ(cxtest::write_sysctl("net/ipv4/ip_local_port_range", "41000 41999"), 0);
        ASSERT_EQ(cxtest::write_sysctl("net/ipv4/ip_local_reserved_ports", "41000-41009,41500"), 0);
        ASSERT_EQ(r->refresh_sysctls(), 0);
        EXPECT_EQ(cxtest::open_fd_count(), fds) << "no file opened per refresh";
        std::lock_guard lock(r->mu);
        EXPECT_EQ(r->range, (port_span{41000, 41999}));
        EXPECT_EQ(r->reserved.count({41000, 41999}), 11u);
        s.reset();
    });
}

TEST(NetnsRegistry, LongReservedListIsReadWhole) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        // ~30 KB of text: past the first small read and the first buffer size.
        // The kernel takes at most a page per write(); later writes on the same open file add
        // to the set, so the list goes in chunks that end at a comma.
        cxtest::unique_fd w(::open("/proc/sys/net/ipv4/ip_local_reserved_ports", O_WRONLY | O_CLOEXEC));
        ASSERT_GE(w, 0);
        std::string chunk;
        for (int p = 40000; p < 50000; p += 2) {
            chunk += std::to_string(p) + ",";
            if (chunk.size() > 3000 || p == 49998) {
                ASSERT_EQ(::write(w, chunk.data(), chunk.size()), ssize_t(chunk.size()));
                chunk.clear();
            }
        }
        w.reset();
        cxtest::unique_fd s(udp());
        netns_ref r;
        ASSERT_EQ(netns_for_socket(s, r), 0);
        ASSERT_EQ(r->refresh_sysctls(), 0);
        {
            std::lock_guard lock(r->mu);
            EXPECT_EQ(r->reserved.count({40000, 49999}), 5000u);
            EXPECT_TRUE(r->reserved.test(49998));
        }
        ASSERT_EQ(cxtest::write_sysctl("net/ipv4/ip_local_reserved_ports", ""), 0);
        ASSERT_EQ(r->refresh_sysctls(), 0);
        std::lock_guard lock(r->mu);
        EXPECT_TRUE(r->reserved.empty());
        s.reset();
    });
}

TEST(NetnsRegistry, ForkedChildStartsAfresh) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        cxtest::unique_fd s(udp());
        {
            netns_ref r;
            ASSERT_EQ(netns_for_socket(s, r), 0);
        }
        ASSERT_EQ(netns_test_count(), 1);
        pid_t pid = fork();
        if (pid == 0) {
            bool empty = netns_test_count() == 0;  // the parent's states do not count here
            netns_ref r;
            bool ok = netns_for_socket(s, r) == 0 && netns_test_count() == 1;
            _exit(empty && ok ? 0 : 1);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        EXPECT_EQ(netns_test_count(), 1);
        s.reset();
    });
}

TEST(NetnsRegistry, ManyNamespacesAreBoundedAndEvicted) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        for (int i = 0; i < 40; ++i) {
            cxtest::unique_fd s;
            std::thread([&] {
                ASSERT_EQ(unshare(CLONE_NEWNET), 0);
                s.reset(udp());
            }).join();
            netns_ref r;
            ASSERT_EQ(netns_for_socket(s, r), 0) << i;
            s.reset();
        }
        EXPECT_LE(netns_test_count(), 16);
        // Netlink sockets of evicted namespaces are closed: the fd count stays bounded.
        EXPECT_LT(cxtest::open_fd_count(), 16 * 4 + 10);
    });
}

}  // namespace
