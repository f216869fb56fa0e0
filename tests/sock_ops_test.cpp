// sock_ops_test.cpp - several socket calls in one io_uring_enter give what the same calls give
// one by one: each result, the stop at the first failure of a chain, the socket's state after;
// and the ring is a thread's own: none of it reaches a fork child, none outlives its thread.
#include "sock_ops.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "support/netns.hpp"
#include "support/udp_util.hpp"
#include "support/unique_fd.hpp"

#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51
#endif

namespace {

using cx::detail::sock_ops;
using cxtest::v4;

// io_uring fds open in this process (readlink: no allocation, as a fork child needs).
int ring_fd_count() {
    int n = 0;
    for (int fd = 0; fd < 4096; ++fd) {
        char path[32], target[64];
        std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t len = readlink(path, target, sizeof target - 1);
        if (len <= 0) continue;
        target[len] = '\0';
        n += std::strcmp(target, "anon_inode:[io_uring]") == 0;
    }
    return n;
}

int int_opt(int fd, int level, int name) {
    int v = -1;
    socklen_t len = sizeof v;
    EXPECT_EQ(getsockopt(fd, level, name, &v, &len), 0);
    return v;
}

// The chain of the UDP path's bind alone, on socket `fd`: range [port, port], bind(ip, 0),
// connect, SO_REUSEADDR=1, range 0.
struct alone_chain {
    int errors[5];
    int in_ring;
};
alone_chain run_alone_chain(int fd, const cx::address& ip, uint16_t port, const cx::address& dst) {
    cx::address at = ip;
    at.set_port(0);
    sock_ops ops(fd, sock_ops::mode::chain);
    ops.set(IPPROTO_IP, IP_LOCAL_PORT_RANGE, int(uint32_t(port) << 16 | port));
    ops.bind(at.sa(), at.size());
    ops.connect(dst.sa(), dst.size());
    ops.set(SOL_SOCKET, SO_REUSEADDR, 1);
    ops.set(IPPROTO_IP, IP_LOCAL_PORT_RANGE, 0);
    ops.run();
    alone_chain out{};
    for (int i = 0; i < 5; ++i) out.errors[i] = ops.error(i);
    out.in_ring = ops.in_ring();
    return out;
}

// A thread's first batches go one by one (a ring costs more to make and close than a few
// batches save); the next ones through its ring.
TEST(SockOpsNetns, AThreadGetsItsRingAfterItsFirstBatches) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        if (!cxtest::warm_thread_ring()) GTEST_SKIP() << "no io_uring socket commands here";
        std::thread([] {
            cxtest::unique_fd fd(cxtest::udp_socket(AF_INET));
            // Asking whether the thread batches (socket_kind.cpp asks on every UDP call) is no
            // batch: it neither makes the ring nor brings it closer.
            for (unsigned i = 0; i <= sock_ops::kCallsBeforeRing; ++i)
                EXPECT_FALSE(sock_ops::batches()) << i;
            for (unsigned i = 0; i <= sock_ops::kCallsBeforeRing; ++i)
                EXPECT_EQ(cxtest::ring_batch(fd.get()), i < sock_ops::kCallsBeforeRing ? 0 : 2)
                    << i;
        }).join();
    });
}

TEST(SockOpsNetns, AChainDoesWhatItsCallsDoOneByOne) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        const auto ip = v4("127.0.0.1");
        const auto dst = v4("127.0.0.2:53");
        const bool ring = cxtest::warm_thread_ring();
        cxtest::unique_fd fd(cxtest::udp_socket(AF_INET));
        alone_chain c = run_alone_chain(fd.get(), ip, 40001, dst);
        for (int e : c.errors) EXPECT_EQ(e, 0) << strerror(e);
        if (ring) {
            EXPECT_EQ(c.in_ring, 5) << "this kernel carries the whole chain";
        }
        sockaddr_in self{};
        socklen_t len = sizeof self;
        ASSERT_EQ(getsockname(fd.get(), reinterpret_cast<sockaddr*>(&self), &len), 0);
        EXPECT_EQ(ntohs(self.sin_port), 40001);
        sockaddr_in peer{};
        len = sizeof peer;
        ASSERT_EQ(getpeername(fd.get(), reinterpret_cast<sockaddr*>(&peer), &len), 0);
        EXPECT_EQ(ntohs(peer.sin_port), 53);
        EXPECT_EQ(int_opt(fd.get(), SOL_SOCKET, SO_REUSEADDR), 1);
        EXPECT_EQ(int_opt(fd.get(), IPPROTO_IP, IP_LOCAL_PORT_RANGE), 0);
    });
}

TEST(SockOpsNetns, AChainStopsAtItsFirstFailureAndMakesNothingAfter) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        const auto ip = v4("127.0.0.1");
        const auto dst = v4("127.0.0.2:53");
        // The port is held alone by another socket: the bind fails, nothing after it is made.
        cxtest::unique_fd holder(cxtest::udp_socket(AF_INET));
        auto held = v4("127.0.0.1:40002");
        ASSERT_EQ(bind(holder.get(), held.sa(), held.size()), 0);
        cxtest::unique_fd fd(cxtest::udp_socket(AF_INET));
        alone_chain c = run_alone_chain(fd.get(), ip, 40002, dst);
        EXPECT_EQ(c.errors[0], 0);
        EXPECT_EQ(c.errors[1], EADDRINUSE);
        for (int i = 2; i < 5; ++i) EXPECT_EQ(c.errors[i], ECANCELED) << i;
        sockaddr_in peer{};
        socklen_t len = sizeof peer;
        EXPECT_EQ(getpeername(fd.get(), reinterpret_cast<sockaddr*>(&peer), &len), -1);
        EXPECT_EQ(errno, ENOTCONN);
        EXPECT_EQ(int_opt(fd.get(), SOL_SOCKET, SO_REUSEADDR), 0);
        EXPECT_EQ(int_opt(fd.get(), IPPROTO_IP, IP_LOCAL_PORT_RANGE), int(40002u << 16 | 40002u));
        // A bad first call: nothing at all.
        cxtest::unique_fd other(cxtest::udp_socket(AF_INET));
        sock_ops ops(other.get(), sock_ops::mode::chain);
        ops.set(IPPROTO_IP, 12345, 1);
        ops.connect(dst.sa(), dst.size());
        ops.run();
        EXPECT_EQ(ops.error(0), ENOPROTOOPT);
        EXPECT_EQ(ops.error(1), ECANCELED);
        EXPECT_EQ(getpeername(other.get(), reinterpret_cast<sockaddr*>(&peer), &len), -1);
    });
}

TEST(SockOpsNetns, EachQuestionHasItsOwnAnswerAndErrno) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        cxtest::unique_fd fd(cxtest::udp_socket(AF_INET));
        int one = 1;
        ASSERT_EQ(setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), 0);
        int protocol = 0, bogus = 0, reuse = 0;
        sock_ops ops(fd.get(), sock_ops::mode::each);
        ops.get(SOL_SOCKET, SO_PROTOCOL, &protocol, sizeof protocol);
        ops.get(SOL_SOCKET, 12345, &bogus, sizeof bogus);
        ops.get(SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof reuse);
        ops.run();
        EXPECT_EQ(ops.error(0), 0);
        EXPECT_EQ(protocol, IPPROTO_UDP);
        EXPECT_EQ(ops.error(1), ENOPROTOOPT);
        EXPECT_EQ(ops.error(2), 0);
        EXPECT_EQ(reuse, 1);
    });
}

// A file that is no socket answers as getsockopt(2) does, and does not make the process give up
// the ring for sockets.
TEST(SockOpsNetns, NoSocketIsEnotsockAndTheRingStays) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        const bool ring = cxtest::warm_thread_ring();
        int p[2];
        ASSERT_EQ(pipe(p), 0);
        int a = 0, b = 0;
        sock_ops ops(p[0], sock_ops::mode::each);
        ops.get(SOL_SOCKET, SO_PROTOCOL, &a, sizeof a);
        ops.get(SOL_SOCKET, SO_REUSEADDR, &b, sizeof b);
        ops.run();
        EXPECT_EQ(ops.error(0), ENOTSOCK);
        EXPECT_EQ(ops.error(1), ENOTSOCK);
        sock_ops closed(p[1] + 100, sock_ops::mode::each);
        closed.get(SOL_SOCKET, SO_PROTOCOL, &a, sizeof a);
        closed.get(SOL_SOCKET, SO_REUSEADDR, &b, sizeof b);
        closed.run();
        EXPECT_EQ(closed.error(0), EBADF);
        close(p[0]);
        close(p[1]);
        EXPECT_EQ(cxtest::warm_thread_ring(), ring);
    });
}

// A fork child holds no ring of its parent's (the parent's threads all have one), and its own
// calls work: the forking thread's ring is forgotten, a new one made.
TEST(SockOpsNetns, ForkChildHoldsNoRingOfItsParentAndMakesItsOwn) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        if (!cxtest::warm_thread_ring()) GTEST_SKIP() << "no io_uring socket commands here";
        std::vector<std::thread> threads;
        for (int i = 0; i < 4; ++i) threads.emplace_back([] { (void)cxtest::warm_thread_ring(); });
        for (auto& t : threads) t.join();
        std::atomic<bool> stop{false};
        std::thread busy([&] {
            while (!stop.load()) (void)cxtest::warm_thread_ring();
        });
        EXPECT_GE(ring_fd_count(), 1);
        for (int i = 0; i < 20; ++i) {
            pid_t pid = fork();
            if (pid == 0) {
                if (ring_fd_count() != 0) _exit(1);
                const auto ip = v4("127.0.0.1");
                const auto dst = v4("127.0.0.2:53");
                int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                alone_chain c = run_alone_chain(fd, ip, uint16_t(41000 + i), dst);
                for (int e : c.errors)
                    if (e) _exit(2);
                _exit(c.in_ring == 5 && ring_fd_count() == 1 ? 0 : 3);
            }
            int status = 0;
            waitpid(pid, &status, 0);
            EXPECT_TRUE(WIFEXITED(status)) << status;
            EXPECT_EQ(WEXITSTATUS(status), 0) << "1: a ring of the parent, 2: a call failed, "
                                                 "3: no ring of its own";
        }
        stop = true;
        busy.join();
    });
}

// A thread's ring goes with the thread; past 256 threads at once, the others make plain calls
// and get the same answers.
TEST(SockOpsNetns, RingsGoWithTheirThreadsAndTooManyThreadsStillWork) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        const bool ring =
            cxtest::warm_thread_ring();  // this thread's ring, if any, counts in `before`
        const int before = ring_fd_count();
        for (int i = 0; i < 50; ++i) std::thread([] { (void)cxtest::warm_thread_ring(); }).join();
        EXPECT_EQ(ring_fd_count(), before);
        std::atomic<int> wrong{0}, ringless{0}, waiting{300};
        std::vector<std::thread> threads;
        for (int i = 0; i < 300; ++i)
            threads.emplace_back([&] {
                cxtest::unique_fd fd(cxtest::udp_socket(AF_INET));
                int in_ring = 0;
                for (unsigned k = 0; k <= sock_ops::kCallsBeforeRing; ++k) {
                    int protocol = 0, reuse = -1;
                    sock_ops ops(fd.get(), sock_ops::mode::each);
                    ops.get(SOL_SOCKET, SO_PROTOCOL, &protocol, sizeof protocol);
                    ops.get(SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof reuse);
                    ops.run();
                    wrong += ops.error(0) != 0 || ops.error(1) != 0 || protocol != IPPROTO_UDP ||
                             reuse != 0;
                    in_ring = ops.in_ring();
                }
                ringless += in_ring == 0;
                --waiting;
                while (waiting.load() > 0) usleep(1000);  // all alive at once
            });
        for (auto& t : threads) t.join();
        EXPECT_EQ(wrong.load(), 0);
        if (ring) {
            EXPECT_GE(ringless.load(), 300 - 256);
        }
        EXPECT_EQ(ring_fd_count(), before);
    });
}

}  // namespace
