// fork_test.cpp - a fork child holds none of its parent's netlink sockets: not those in the
// per-namespace pools, not those other threads of the parent were using at the moment of the
// fork, and not one being opened or closed at that moment (more threads than a pool holds make
// the library open and close sockets all the time).
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <thread>
#include <vector>

#include "support/netns.hpp"
#include "support/udp_util.hpp"
#include "support/unique_fd.hpp"

namespace {

// Netlink sockets open in this process. No allocation: a fork child of a process whose other
// threads were inside malloc (or a sanitizer's allocator) must not call it.
int netlink_fd_count() {
    int n = 0;
    for (int fd = 0; fd < 4096; ++fd) {
        int domain = 0;
        socklen_t len = sizeof domain;
        if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && domain == AF_NETLINK) ++n;
    }
    return n;
}

TEST(ForkNetns, ChildHoldsNoNetlinkSocketOfItsParentEvenMidCall) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        std::atomic<bool> stop{false};
        std::vector<std::thread> workers;
        for (int t = 0; t < 12; ++t) {
            workers.emplace_back([&, t] {
                auto ip = cxtest::v4("127.0.0.1");
                while (!stop.load()) {
                    cxtest::unique_fd fd(cxtest::udp_socket(AF_INET));
                    cxtest::udp_connectx(fd, &ip, cxtest::dst_v4(t, 53));
                    fd.reset();
                }
            });
        }
        // The parent's calls use netlink sockets (the workers' first calls make them).
        for (int i = 0; i < 1000 && netlink_fd_count() == 0; ++i) usleep(1000);
        EXPECT_GT(netlink_fd_count(), 0) << "the premise: the parent's calls use netlink sockets";
        int leaked = 0, broken = 0;
        for (int i = 0; i < 100; ++i) {
            pid_t pid = fork();
            if (pid == 0) _exit(netlink_fd_count() != 0 ? 1 : 0);
            int status = 0;
            waitpid(pid, &status, 0);
            int code = WIFEXITED(status) ? WEXITSTATUS(status) : 3;
            leaked += code == 1;
            broken += code >= 2;
            usleep(500);
        }
        stop = true;
        for (auto& w : workers) w.join();
        EXPECT_EQ(leaked, 0) << "of 100 forks, children that held a netlink socket of the parent";
        EXPECT_EQ(broken, 0) << "children that died";
        // A child's own calls start afresh: netns_cache_test's ForkedChildStartsAfresh (a child
        // of a process with other threads running may not allocate, so not here).
    });
}

}  // namespace
