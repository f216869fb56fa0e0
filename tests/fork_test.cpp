// fork_test.cpp - a fork child holds none of its parent's netlink sockets: not those in the
// per-namespace pools, and not those other threads of the parent were using at the moment of the
// fork. And the child's own calls work.
#include <dirent.h>
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

namespace {

// Netlink sockets open in this process.
int netlink_fd_count() {
    int n = 0;
    DIR* d = opendir("/proc/self/fd");
    if (!d) return -1;
    while (dirent* e = readdir(d)) {
        int fd = std::atoi(e->d_name);
        if (e->d_name[0] == '.' || fd == dirfd(d)) continue;
        int domain = 0;
        socklen_t len = sizeof domain;
        if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && domain == AF_NETLINK) ++n;
    }
    closedir(d);
    return n;
}

TEST(ForkNetns, ChildHoldsNoNetlinkSocketOfItsParentEvenMidCall) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        std::atomic<bool> stop{false};
        std::vector<std::thread> workers;
        for (int t = 0; t < 4; ++t) {
            workers.emplace_back([&, t] {
                auto ip = cxtest::v4("127.0.0.1");
                while (!stop.load()) {
                    int fd = cxtest::udp_socket(AF_INET);
                    cxtest::udp_connectx(fd, &ip, cxtest::dst_v4(t, 53));
                    ::close(fd);
                }
            });
        }
        // The parent's calls use netlink sockets (the workers' first calls make them).
        for (int i = 0; i < 1000 && netlink_fd_count() == 0; ++i) usleep(1000);
        EXPECT_GT(netlink_fd_count(), 0) << "the premise: the parent's calls use netlink sockets";
        int leaked = 0, broken = 0;
        for (int i = 0; i < 30; ++i) {
            pid_t pid = fork();
            if (pid == 0) {
                int held = netlink_fd_count();
                int fd = cxtest::udp_socket(AF_INET);
                auto ip = cxtest::v4("127.0.0.1");
                int e = cxtest::udp_connectx(fd, &ip, cxtest::dst_v4(0, 53));
                _exit(held != 0 ? 1 : e != 0 ? 2 : 0);
            }
            int status = 0;
            waitpid(pid, &status, 0);
            int code = WIFEXITED(status) ? WEXITSTATUS(status) : 3;
            leaked += code == 1;
            broken += code >= 2;
            usleep(2000);
        }
        stop = true;
        for (auto& w : workers) w.join();
        EXPECT_EQ(leaked, 0) << "of 30 forks, children that held a netlink socket of the parent";
        EXPECT_EQ(broken, 0) << "children whose own connectx() failed";
    });
}

}  // namespace
