// udp_race_test.cpp - 8 processes race connectx() on one 4-tuple, on one source port toward a few
// destinations, and on a small range; a monitor dumps every UDP socket of the namespace throughout
// and checks that no 4-tuple ever had two connected sockets, and each failed attempt checks that
// it left no lock behind.
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "support/netns.hpp"
#include "support/udp_util.hpp"

namespace {

using cxtest::dst_v4;
using cxtest::udp_connectx;
using cxtest::v4;

constexpr int kProcs = 8;
constexpr int kAttempts = 3000;

struct shared_counts {
    std::atomic<int> ok, eaddrinuse, eagain, other, left_locked, last_other;
    std::atomic<int> dumps;  // made by the monitor so far: the race goes on until there are enough
};
constexpr int kMinDumps = 10;

// Runs the race: each process makes kAttempts calls of `attempt(i)` (returns the socket or -1 and
// the errno), holds a success briefly, closes it. Returns the counts; fails on duplicates.
template <class F>
shared_counts* race(F attempt) {
    auto* c = static_cast<shared_counts*>(mmap(
        nullptr, sizeof(shared_counts), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    new (c) shared_counts{};
    std::atomic<bool> done{false};
    int duplicates_seen = 0, dumps = 0;
    std::thread monitor([&] {
        while (!done.load()) {
            auto dup = cxtest::duplicate_tuples(cxtest::dump_udp_sockets());
            ++dumps;
            c->dumps.store(dumps);
            if (!dup.empty() && duplicates_seen++ == 0) ADD_FAILURE() << "duplicate: " << dup[0];
        }
    });
    int failed = cxtest::run_in_children(kProcs, [&](int proc) {
        std::vector<int> held;
        // kAttempts calls, and more while the monitor has not looked often enough (a loaded
        // machine can finish the calls before it has), for at most 20 s.
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        for (int i = 0; i < kAttempts || (c->dumps.load() < kMinDumps &&
                                          std::chrono::steady_clock::now() < until);
             ++i) {
            int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            int e = attempt(fd, proc, i);
            if (e == 0) {
                c->ok++;
                held.push_back(fd);
                if (held.size() > 2) {  // hold a little while, then let go
                    ::close(held.front());
                    held.erase(held.begin());
                }
                continue;
            }
            (e == EADDRINUSE ? c->eaddrinuse : e == EAGAIN ? c->eagain : c->other)++;
            if (e != EADDRINUSE && e != EAGAIN) c->last_other = e;
            if (cxtest::local_port_of(fd) != 0 && cxtest::reuseaddr_of(fd) == 0) c->left_locked++;
            if (cxtest::is_connected(fd)) c->left_locked++;
            ::close(fd);
        }
        for (int fd : held) ::close(fd);
    });
    done = true;
    monitor.join();
    EXPECT_EQ(failed, 0);
    EXPECT_EQ(duplicates_seen, 0) << "over " << dumps << " dumps";
    EXPECT_GE(dumps, kMinDumps);
    EXPECT_EQ(c->other.load(), 0) << "unexpected errors, last: " << strerror(c->last_other.load());
    EXPECT_EQ(c->left_locked.load(), 0);
    EXPECT_GT(c->ok.load(), 0);
    // Nothing left behind: every socket closed, so the namespace has no UDP socket at all.
    EXPECT_TRUE(cxtest::dump_udp_sockets().empty());
    return c;
}

TEST(UdpRace, EightProcessesOnOneFourTuple) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        auto src = v4("127.0.0.1:40007");
        auto dst = dst_v4(0, 5353);
        auto* c = race([&](int fd, int, int) { return udp_connectx(fd, &src, dst); });
        EXPECT_GT(c->eaddrinuse.load(), 0) << "the race never happened";
        munmap(c, sizeof *c);
    });
}

TEST(UdpRace, EightProcessesOnOneSourcePortTowardFourDestinations) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        auto src = v4("127.0.0.1:40009");
        auto* c = race([&](int fd, int proc, int i) {
            return udp_connectx(fd, &src, dst_v4((proc + i) % 4, 5353));
        });
        EXPECT_GT(c->eaddrinuse.load(), 0);
        munmap(c, sizeof *c);
    });
}

TEST(UdpRace, EightProcessesSearchingASmallRange) {
    CXTEST_REQUIRE_NETNS();
    cxtest::netns_options opt;
    opt.port_lo = 40000;
    opt.port_hi = 40015;  // 16 ports, 8 processes holding up to 3 each: the range runs dry
    cxtest::run_in_netns(opt, [] {
        auto src = v4("127.0.0.1");
        auto* c = race([&](int fd, int proc, int) {
            return udp_connectx(fd, proc % 2 ? &src : nullptr, dst_v4(0, 5353));
        });
        munmap(c, sizeof *c);
    });
}

}  // namespace
