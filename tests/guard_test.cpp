// guard_test.cpp - the BPF guard on the real kernel: duplicate UDP 4-tuples refused with EPERM
// (IPv4, IPv6, IPv4-mapped), everything else left alone, counters, idempotent attach, pinning
// across processes, detach restoring the old behaviour, exact errnos for bad input, and nothing
// (cgroup, link, pin) left behind. Each test makes its own cgroup under the cgroup v2 mount and
// runs its sockets in a forked child inside that cgroup and a private network namespace; pins go
// to a bpffs mounted in this process's private mount namespace. The connectx-guard tool: the
// README's example as written, one test per error message, the foreground attach's endings.
#include <connectx/guard.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <connectx/guard.hpp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "support/cli_run.hpp"
#include "support/netns.hpp"

namespace {

using cxtest::dst_v4;
using cxtest::dst_v6;
using cxtest::v4;

constexpr uint16_t kServerPort = 5353;

// --- cgroup v2, bpffs and raw BPF queries (independent of the library under test) ---

std::string cgroup2_mount() {
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
        // "id parent maj:min root mountpoint opts... - fstype source superopts"
        std::istringstream f(line);
        std::string id, parent, dev, root, point, tok;
        f >> id >> parent >> dev >> root >> point;
        while (f >> tok && tok != "-") {
        }
        if (f >> tok && tok == "cgroup2") return point;
    }
    return {};
}

long sys_bpf(int cmd, bpf_attr& a) {
    return syscall(__NR_bpf, cmd, &a, sizeof a);
}

uint64_t ptr(const void* p) {
    return reinterpret_cast<uintptr_t>(p);
}

// Live cgroup links (any program) attached to the cgroup with this id.
int links_on_cgroup(uint64_t cg_id) {
    int n = 0;
    bpf_attr next{};
    while (sys_bpf(BPF_LINK_GET_NEXT_ID, next) == 0) {
        bpf_attr get{};
        get.link_id = next.next_id;
        next.start_id = next.next_id;
        int fd = static_cast<int>(sys_bpf(BPF_LINK_GET_FD_BY_ID, get));
        if (fd < 0) continue;
        bpf_link_info li{};
        bpf_attr info{};
        info.info.bpf_fd = static_cast<uint32_t>(fd);
        info.info.info_len = sizeof li;
        info.info.info = ptr(&li);
        if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, info) == 0 && li.type == BPF_LINK_TYPE_CGROUP &&
            li.cgroup.cgroup_id == cg_id)
            ++n;
        ::close(fd);
    }
    return n;
}

// Programs attached directly to the cgroup for one attach type (-1 on error).
int progs_on_cgroup(const std::string& path, bpf_attach_type type) {
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    uint32_t ids[64];
    bpf_attr q{};
    q.query.target_fd = static_cast<uint32_t>(fd);
    q.query.attach_type = type;
    q.query.prog_ids = ptr(ids);
    q.query.prog_cnt = 64;
    long rc = sys_bpf(BPF_PROG_QUERY, q);
    ::close(fd);
    return rc < 0 ? -1 : static_cast<int>(q.query.prog_cnt);
}

// Guard pins in a bpffs directory. (A fresh bpffs may also show the kernel's own maps.debug and
// progs.debug, from bpf_preload.)
int pins_in(const std::string& path) {
    DIR* d = opendir(path.c_str());
    if (!d) return -1;
    int n = 0;
    while (dirent* e = readdir(d))
        if (std::strncmp(e->d_name, "connectx-guard", 14) == 0) ++n;
    closedir(d);
    return n;
}

// Moves the calling process into the cgroup. Sockets created afterwards belong to it (a
// socket's cgroup is fixed when it is created).
void enter_cgroup(const std::string& cg) {
    int fd = ::open((cg + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0) << strerror(errno);
    EXPECT_EQ(::write(fd, "0", 1), 1) << "join " << cg << ": " << strerror(errno);
    ::close(fd);
}

// --- sockets ---

int udp_reuse_bound(const cx::address& at) {
    return cxtest::udp_bound(at, /*reuseaddr=*/true);
}

cx::address local_of(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len), 0);
    auto a = cx::address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
    return a ? *a : cx::address{};
}

int connect_errno(int fd, const cx::address& dst) {
    return ::connect(fd, dst.sa(), dst.size()) < 0 ? errno : 0;
}

// The address an AF_INET server sends to for a local end that may be IPv4-mapped.
cx::address as_v4(const cx::address& a) {
    if (!a.is_v4_mapped()) return a;
    std::string ip = a.ip_string();  // "::ffff:127.0.0.1"
    auto v = cx::address::parse(ip.substr(ip.rfind(':') + 1), a.port());
    EXPECT_TRUE(v) << ip;
    return v ? *v : cx::address{};
}

// Which of `a` and `b` receives a datagram sent from `server` to `to`: 'a', 'b' or '-'.
// Resent every 100 ms for up to 3 s, so a lost datagram (a fresh namespace's IPv6 routes are set
// up asynchronously) cannot fail the test; resending cannot change which socket gets it.
char who_receives(int server, const cx::address& to, int a, int b) {
    for (int i = 0; i < 30; ++i) {
        EXPECT_EQ(::sendto(server, "x", 1, 0, to.sa(), to.size()), 1) << strerror(errno);
        pollfd p[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
        if (::poll(p, 2, 100) <= 0) continue;
        char c;
        if (p[0].revents & POLLIN) return ::recv(a, &c, 1, 0) == 1 ? 'a' : '-';
        return ::recv(b, &c, 1, 0) == 1 ? 'b' : '-';
    }
    return '-';
}

struct duplicate_outcome {
    int second_connect = -1;  // errno of the second connect (0 = it succeeded)
    char receiver = '?';      // who gets the server's reply afterwards
    bool second_unconnected = false;
};

// Two plain SO_REUSEADDR UDP sockets bound to one local address and port, both connected to
// `dst`, where a server listens.
duplicate_outcome try_duplicate(const cx::address& src_any_port, const cx::address& dst,
                                const cx::address& server_at) {
    duplicate_outcome out;
    int server = cxtest::udp_bound(server_at);
    int a = udp_reuse_bound(src_any_port);
    cx::address local = local_of(a);
    int b = udp_reuse_bound(local);
    EXPECT_EQ(connect_errno(a, dst), 0);
    out.second_connect = connect_errno(b, dst);
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    out.second_unconnected =
        ::getpeername(b, reinterpret_cast<sockaddr*>(&peer), &len) < 0 && errno == ENOTCONN;
    out.receiver = who_receives(server, as_v4(local), a, b);
    ::close(b);
    ::close(a);
    ::close(server);
    return out;
}

// --- the fixture ---

// Root (or CAP_SYS_ADMIN + CAP_BPF) is needed for cgroups, bpffs and BPF; skip with a reason
// otherwise. CI runs as root, so these never skip there.
#define CXTEST_REQUIRE_GUARD_PRIVILEGES()                                                    \
    do {                                                                                     \
        CXTEST_REQUIRE_NETNS();                                                              \
        if (::geteuid() != 0) GTEST_SKIP() << "privileged test skipped: needs root for BPF"; \
    } while (0)

class Guard : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        if (::geteuid() != 0) return;
        // A private mount namespace: the bpffs the tests mount is seen by this process and its
        // children only, and vanishes with them.
        ASSERT_EQ(::unshare(CLONE_NEWNS), 0) << strerror(errno);
        ASSERT_EQ(::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0)
            << strerror(errno);
    }

    void SetUp() override {
        if (::geteuid() != 0) return;
        std::string mnt = cgroup2_mount();
        ASSERT_FALSE(mnt.empty()) << "no cgroup2 mount in /proc/self/mountinfo";
        root_ = mnt;
        cg_ = mnt + "/connectx-guard-test." + std::to_string(::getpid()) + "." +
              ::testing::UnitTest::GetInstance()->current_test_info()->name();
        ASSERT_EQ(::mkdir(cg_.c_str(), 0755), 0) << cg_ << ": " << strerror(errno);
        struct stat st {};
        ASSERT_EQ(::stat(cg_.c_str(), &st), 0);
        cg_id_ = st.st_ino;
        char tmpl[] = "/tmp/connectx-guard-pins.XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr) << strerror(errno);
        pin_ = tmpl;
    }

    void TearDown() override {
        if (cg_.empty()) return;
        // Whatever the test did, leave nothing: detach (with the pins), then prove it.
        connectx_guard_opts o = opts(0, pin_mounted());
        if (connectx_guard_available()) {
            EXPECT_GE(connectx_guard_detach(cg_.c_str(), &o), 0) << strerror(errno);
            EXPECT_EQ(links_on_cgroup(cg_id_), 0) << "a guard link outlived the test";
            EXPECT_EQ(progs_on_cgroup(cg_, BPF_CGROUP_INET4_CONNECT), 0);
            EXPECT_EQ(progs_on_cgroup(cg_, BPF_CGROUP_INET6_CONNECT), 0);
        }
        if (pin_mounted()) {
            EXPECT_EQ(pins_in(pin_), 0) << "a pinned object outlived the test";
            EXPECT_EQ(::umount2(pin_.c_str(), 0), 0) << strerror(errno);
        }
        EXPECT_EQ(::rmdir(pin_.c_str()), 0) << pin_ << ": " << strerror(errno);
        // The children are reaped, so the cgroup is empty; rmdir must succeed at once.
        EXPECT_EQ(::rmdir(cg_.c_str()), 0) << cg_ << ": " << strerror(errno);
        struct stat st {};
        EXPECT_NE(::stat(cg_.c_str(), &st), 0) << "cgroup left behind";
    }

    bool pin_mounted() const {
        struct stat a {
        }, b{};
        return ::stat(pin_.c_str(), &a) == 0 && ::stat((pin_ + "/..").c_str(), &b) == 0 &&
               a.st_dev != b.st_dev;
    }

    connectx_guard_opts opts(uint32_t flags, bool pinned = true) const {
        connectx_guard_opts o{};
        o.size = sizeof o;
        o.flags = flags;
        o.pin_dir = pinned ? pin_.c_str() : nullptr;
        return o;
    }

    // Attach without pins; the returned handle keeps the guard.
    connectx_guard* attach_unpinned() {
        connectx_guard* g = nullptr;
        EXPECT_EQ(connectx_guard_attach(cg_.c_str(), nullptr, &g), 1) << strerror(errno);
        EXPECT_NE(g, nullptr);
        return g;
    }

    connectx_guard_info info(bool with_pins = false) const {
        connectx_guard_info s{};
        s.size = sizeof s;
        connectx_guard_opts o = opts(0, with_pins);
        EXPECT_EQ(connectx_guard_status(cg_.c_str(), &o, &s), 0) << strerror(errno);
        return s;
    }

    // Runs `body` in a child inside the test cgroup and a private network namespace.
    void in_cgroup_netns(const std::function<void()>& body) {
        std::string cg = cg_;
        cxtest::run_in_netns([&] {
            enter_cgroup(cg);
            if (::testing::Test::HasFatalFailure()) return;
            body();
        });
    }

    // Without the guard built, every entry point must say so: ENOTSUP. Returns true then.
    static bool not_built_is_reported() {
        if (connectx_guard_available()) return false;
        connectx_guard* g = nullptr;
        errno = 0;
        EXPECT_EQ(connectx_guard_attach("/", nullptr, &g), -1);
        EXPECT_EQ(errno, ENOTSUP);
        return true;
    }

    std::string root_, cg_, pin_;
    uint64_t cg_id_ = 0;
};

// --- what the guard refuses ---

TEST_F(Guard, DuplicateIpv4TupleGetsEpermAndOlderFlowKeepsReceiving) {
    CXTEST_REQUIRE_GUARD_PRIVILEGES();
    if (not_built_is_reported()) return;
    connectx_guard* g = attach_unpinned();
    in_cgroup_netns([] {
        auto out = try_duplicate(v4("127.0.0.1:0"), dst_v4(0, kServerPort), dst_v4(0, kServerPort));
        EXPECT_EQ(out.second_connect, EPERM);
        EXPECT_TRUE(out.second_unconnected);
        EXPECT_EQ(out.receiver, 'a');
    });
    auto s = info();
    EXPECT_EQ(s.attached, CONNECTX_GUARD_CONNECT4 | CONNECTX_GUARD_CONNECT6);
    EXPECT_EQ(s.checked, 2u);
    EXPECT_EQ(s.refused, 1u);
    connectx_guard_close(g);
}

TEST_F(Guard, DuplicateIpv6TupleGetsEperm) {
    CXTEST_REQUIRE_GUARD_PRIVILEGES();
    if (not_built_is_reported()) return;
    connectx_guard* g = attach_unpinned();
    in_cgroup_netns([] {
        auto out =
            try_duplicate(v4("[2001:db8::1]:0"), dst_v6(0, kServerPort), dst_v6(0, kServerPort));
        EXPECT_EQ(out.second_connect, EPERM);
        EXPECT_TRUE(out.second_unconnected);
        EXPECT_EQ(out.receiver, 'a');
    });
    EXPECT_EQ(info().refused, 1u);
    connectx_guard_close(g);
}

TEST_F(Guard, DuplicateIpv4MappedTupleGetsEperm) {
    CXTEST_REQUIRE_GUARD_PRIVILEGES();
    if (not_built_is_reported()) return;
    connectx_guard* g = attach_unpinned();
    in_cgroup_netns([] {
        // Both dual-stack, the tuple given as ::ffff:a.b.c.d (the connect6 program).
        auto out = try_duplicate(v4("[::ffff:127.0.0.1]:0"), v4("[::ffff:127.0.1.1]:5353"),
                                 dst_v4(0, kServerPort));
        EXPECT_EQ(out.second_connect, EPERM);
        EXPECT_EQ(out.receiver, 'a');

        // An AF_INET socket holds the tuple; a dual-stack one reaches it through the mapped form
        // (its conflict lives in the IPv4 table) and through a plain AF_INET sockaddr (which the
        // kernel hands to the connect4 program with an IPv6 socket).
        int server = cxtest::udp_bound(dst_v4(1, kServerPort));
        int a = udp_reuse_bound(v4("127.0.0.1:0"));
        uint16_t port = local_of(a).port();
        ASSERT_EQ(connect_errno(a, dst_v4(1, kServerPort)), 0);
        auto mapped_src = v4("[::ffff:127.0.0.1]:0");
        mapped_src.set_port(port);
        int b = udp_reuse_bound(mapped_src);
        EXPECT_EQ(connect_errno(b, v4("[::ffff:127.0.1.2]:5353")), EPERM);
        EXPECT_EQ(connect_errno(b, dst_v4(1, kServerPort)), EPERM);
        ::close(b);
        ::close(a);
        ::close(server);
    });
    EXPECT_EQ(info().refused, 3u);
    connectx_guard_close(g);
}

// --- what it leaves alone ---

TEST_F(Guard, DistinctDestinationsAndReconnectsAreAllowed) {
    CXTEST_REQUIRE_GUARD_PRIVILEGES();
    if (not_built_is_reported()) return;
    connectx_guard* g = attach_unpinned();
    in_cgroup_netns([] {
        int a = udp_reuse_bound(v4("127.0.0.1:0"));
        int b = udp_reuse_bound(local_of(a));
        int c = udp_reuse_bound(local_of(a));
        EXPECT_EQ(connect_errno(a, dst_v4(0, kServerPort)), 0);
        EXPECT_EQ(connect_errno(b, dst_v4(1, kServerPort)), 0);      // other address
        EXPECT_EQ(connect_errno(c, dst_v4(0, kServerPort + 1)), 0);  // other port
        // A socket reconnecting to its own peer finds itself, which is no conflict.
        EXPECT_EQ(connect_errno(a, dst_v4(0, kServerPort)), 0);
        ::close(c);
        ::close(b);
        ::close(a);
    });
    auto s = info();
    EXPECT_EQ(s.checked, 4u);
    EXPECT_EQ(s.refused, 0u);
    connectx_guard_close(g);
}

TEST_F(Guard, TcpIsUntouched) {
    CXTEST_REQUIRE_GUARD_PRIVILEGES();
    if (not_built_is_reported()) return;
    connectx_guard* g = attach_unpinned();
    in_cgroup_netns([] {
        int l = cxtest::tcp_listener(dst_v4(0, kServerPort));
        int a = cxtest::socket_for(dst_v4(0, 0), SOCK_STREAM);
        int one = 1;
        ASSERT_EQ(setsockopt(a, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), 0);
        auto src = v4("127.0.0.1:0");
        ASSERT_EQ(::bind(a, src.sa(), src.size()), 0);
        EXPECT_EQ(connect_errno(a, dst_v4(0, kServerPort)), 0);
        int b = cxtest::socket_for(dst_v4(0, 0), SOCK_STREAM);
        ASSERT_EQ(setsockopt(b, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), 0);
        auto same = local_of(a);
        ASSERT_EQ(::bind(b, same.sa(), same.size()), 0);
        // The kernel's own TCP answer, not the guard's EPERM.
        EXPECT_EQ(connect_errno(b, dst_v4(0, kServerPort)), EADDRNOTAVAIL);
        ::close(b);
        ::close(a);
        ::close(l);
    });
    auto s = info();
    EXPECT_EQ(s.checked + s.refused + s.skipped, 0u);
    connectx_guard_close(g);
}

TEST_F(Guard, SocketsWithoutExplicitLocalEndAreCountedAsSkipped) {
    CXTEST_REQUIRE_GUARD_PRIVILEGES();
    if (not_built_is_reported()) return;
    connectx_guard* g = attach_unpinned();
    in_cgroup_netns([] {
        int a = cxtest::socket_for(dst_v4(0, 0), SOCK_DGRAM);  // autobound by connect()
        EXPECT_EQ(connect_errno(a, dst_v4(0, kServerPort)), 0);
        int b = udp_reuse_bound(v4("0.0.0.0:0"));  // wildcard address: source chosen later
        EXPECT_EQ(connect_errno(b, dst_v4(0, kServerPort)), 0);
        int c = udp_reuse_bound(v4("[::]:0"));
        EXPECT_EQ(connect_errno(c, dst_v6(0, kServerPort)), 0);
        ::close(c);
        ::close(b);
        ::close(a);
    });
    auto s = info();
    EXPECT_EQ(s.skipped, 3u);
    EXPECT_EQ(s.checked, 0u);
    connectx_guard_close(g);
}

TEST_F(Guard, ConnectxItselfWorksUnderTheGuard) {
    CXTEST_REQUIRE_GUARD_PRIVILEGES();
    if (not_built_is_reported()) return;
    connectx_guard* g = attach_unpinned();
    in_cgroup_netns([] {
        int server = cxtest::udp_bound(dst_v4(0, kServerPort));
        auto dst = dst_v4(0, kServerPort);
        auto src = v4("127.0.0.1");
        int a = cxtest::socket_for(dst, SOCK_DGRAM);
        connectx_result res{};
        connectx_opts o{};
        o.size = sizeof o;
        o.result = &res;
        ASSERT_EQ(connectx(a, src.sa(), src.size(), dst.sa(), dst.size(), &o), 0)
            << strerror(errno);
        EXPECT_EQ(res.technique, CONNECTX_TECH_UDP_ALONE);  // every port is free here
        auto local = local_of(a);
        // connectx on the same 4-tuple: refused by connectx's own lookup first.
        int b = cxtest::socket_for(dst, SOCK_DGRAM);
        errno = 0;
        EXPECT_EQ(connectx(b, local.sa(), local.size(), dst.sa(), dst.size(), nullptr), -1);
        EXPECT_EQ(errno, EADDRINUSE);
        // A plain program onto connectx's 4-tuple: connectx sets SO_REUSEADDR again once
        // connected, so a plain SO_REUSEADDR bind there succeeds; the guard refuses the connect.
        int c = udp_reuse_bound(local);
        EXPECT_EQ(connect_errno(c, dst), EPERM);
        EXPECT_EQ(who_receives(server, local, a, c), 'a');
        ::close(c);
        ::close(b);
        ::close(a);
        ::close(server);
    });
    EXPECT_GE(info().refused, 1u);
    connectx_guard_close(g);
}

// --- lifetime: idempotence, pins, detach ---

TEST_F(Guard, AttachIsIdempotent) {
    CXTEST_REQUIRE_GUARD_PRIVILEGES();
    if (not_built_is_reported()) return;
    connectx_guard* g = attach_unpinned();
    connectx_guard* again = reinterpret_cast<connectx_guard*>(&again);
    EXPECT_EQ(connectx_guard_attach(cg_.c_str(), nullptr, &again), 0) << strerror(errno);
    EXPECT_EQ(again, nullptr);
    EXPECT_EQ(progs_on_cgroup(cg_, BPF_CGROUP_INET4_CONNECT), 1);
    EXPECT_EQ(progs_on_cgroup(cg_, BPF_CGROUP_INET6_CONNECT), 1);
    EXPECT_EQ(links_on_cgroup(cg_id_), 2);
    // Another process sees it attached as well.
    std::string cg = cg_;
    EXPECT_EQ(cxtest::run_in_children(
                  1,
                  [&](int) {
                      connectx_guard* other = nullptr;
                      EXPECT_EQ(connectx_guard_attach(cg.c_str(), nullptr, &other), 0);
                      EXPECT_EQ(other, nullptr);
                  }),
              0);
    EXPECT_EQ(progs_on_cgroup(cg_, BPF_CGROUP_INET4_CONNECT), 1);
    connectx_guard_close(g);
}

// Detach walks every BPF link of the host to find the guard's. A link another program is
// making at that moment answers EAGAIN to a lookup by id (the kernel's "not settled yet"): that
// is someone else's link in the making, not a failure of this detach. Another process attaches
// and drops guards on a cgroup of its own meanwhile.
TEST_F(Guard, DetachIsNotDisturbedByLinksBeingMadeElsewhere) {
    CXTEST_REQUIRE_GUARD_PRIVILEGES();
    if (not_built_is_reported()) return;
    const std::string other = cg_ + "/churn";
    ASSERT_EQ(::mkdir(other.c_str(), 0755), 0) << strerror(errno);
    int stop[2];
    ASSERT_EQ(::pipe(stop), 0);
    pid_t churn = ::fork();
    if (churn == 0) {
        ::close(stop[1]);
        pollfd p{stop[0], POLLIN, 0};
        int bad = 0;
        for (int i = 0; i < 2000 && ::poll(&p, 1, 0) == 0; ++i) {
            connectx_guard* g = nullptr;
            bad += connectx_guard_attach(other.c_str(), nullptr, &g) != 1;
            connectx_guard_close(g);
        }
        ::_exit(bad == 0 ? 0 : 1);
    }
    ::close(stop[0]);
    int failed = 0, last = 0;
    for (int i = 0; i < 3000; ++i) {
        if (connectx_guard_detach(cg_.c_str(), nullptr) < 0) {
            ++failed;
            last = errno;
        }
    }
    ::close(stop[1]);
    int status = 0;
    ASSERT_EQ(::waitpid(churn, &status, 0), churn);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the other process's attaches";
    EXPECT_EQ(failed, 0) << "last errno: " << strerror(last);
    EXPECT_EQ(::rmdir(other.c_str()), 0) << strerror(errno);
}

TEST_F(Guard, UnpinnedGuardEndsWithItsHandle) {
    CXTEST_REQUIRE_GUARD_PRIVILEGES();
    if (not_built_is_reported()) return;
    connectx_guard_close(attach_unpinned());
    EXPECT_EQ(info().attached, 0u);
    EXPECT_EQ(links_on_cgroup(cg_id_), 0);
    // ... and with the process that attached it.
    std::string cg = cg_;
    EXPECT_EQ(cxtest::run_in_children(1,
                                      [&](int) {
                                          connectx_guard* g = nullptr;
                                          EXPECT_EQ(connectx_guard_attach(cg.c_str(), nullptr, &g),
                                                    1);
                                          (void)g;  // exits holding it
                                      }),
              0);
    EXPECT_EQ(info().attached, 0u);
}

TEST_F(Guard, PinnedGuardOutlivesItsProcessAndDetachesFromAnother) {
    CXTEST_REQUIRE_GUARD_PRIVILEGES();
    if (not_built_is_reported()) return;
    std::string cg = cg_;
    connectx_guard_opts o = opts(CONNECTX_GUARD_F_MOUNT_BPFFS);
    EXPECT_EQ(
        cxtest::run_in_children(1,
                                [&](int) {
                                    EXPECT_EQ(connectx_guard_attach(cg.c_str(), &o, nullptr), 1)
                                        << strerror(errno);
                                }),
        0);
    EXPECT_TRUE(pin_mounted()) << "CONNECTX_GUARD_F_MOUNT_BPFFS did not mount bpffs";
    auto s = info(true);
    EXPECT_EQ(s.attached, CONNECTX_GUARD_CONNECT4 | CONNECTX_GUARD_CONNECT6);
    EXPECT_EQ(s.pinned, CONNECTX_GUARD_CONNECT4 | CONNECTX_GUARD_CONNECT6);
    EXPECT_EQ(pins_in(pin_), 2);
    in_cgroup_netns([] {
        auto out = try_duplicate(v4("127.0.0.1:0"), dst_v4(0, kServerPort), dst_v4(0, kServerPort));
        EXPECT_EQ(out.second_connect, EPERM);
    });
    EXPECT_EQ(cxtest::run_in_children(1,
                                      [&](int) {
                                          EXPECT_EQ(connectx_guard_detach(cg.c_str(), &o), 1)
                                              << strerror(errno);
                                      }),
              0);
    EXPECT_EQ(info(true).attached, 0u);
    EXPECT_EQ(info(true).pinned, 0u);
    EXPECT_EQ(pins_in(pin_), 0);
    EXPECT_EQ(links_on_cgroup(cg_id_), 0);
    // Detach is idempotent too.
    EXPECT_EQ(connectx_guard_detach(cg_.c_str(), &o), 0);
}

TEST_F(Guard, RepeatedAttachWithPinPinsTheRunningGuard) {
    CXTEST_REQUIRE_GUARD_PRIVILEGES();
    if (not_built_is_reported()) return;
    connectx_guard* g = attach_unpinned();
    connectx_guard_opts o = opts(CONNECTX_GUARD_F_MOUNT_BPFFS);
    EXPECT_EQ(connectx_guard_attach(cg_.c_str(), &o, nullptr), 0) << strerror(errno);
    EXPECT_EQ(info(true).pinned, CONNECTX_GUARD_CONNECT4 | CONNECTX_GUARD_CONNECT6);
    connectx_guard_close(g);  // the pins keep it now
    EXPECT_EQ(info(true).attached, CONNECTX_GUARD_CONNECT4 | CONNECTX_GUARD_CONNECT6);
    EXPECT_EQ(links_on_cgroup(cg_id_), 2);
}

TEST_F(Guard, DetachRestoresTheOldBehaviour) {
    CXTEST_REQUIRE_GUARD_PRIVILEGES();
    if (not_built_is_reported()) return;
    connectx_guard* g = attach_unpinned();
    EXPECT_EQ(connectx_guard_detach(cg_.c_str(), nullptr), 1) << strerror(errno);
    EXPECT_EQ(info().attached, 0u);
    EXPECT_EQ(links_on_cgroup(cg_id_), 0);
    in_cgroup_netns([] {
        // Without the guard the kernel lets the newer socket overshadow the older one.
        auto out = try_duplicate(v4("127.0.0.1:0"), dst_v4(0, kServerPort), dst_v4(0, kServerPort));
        EXPECT_EQ(out.second_connect, 0);
        EXPECT_EQ(out.receiver, 'b');
    });
    connectx_guard_close(g);  // its links were cut already: closing is harmless
    EXPECT_EQ(connectx_guard_detach(cg_.c_str(), nullptr), 0);
}

TEST_F(Guard, StalePinIsRefusedWithEexist) {
    CXTEST_REQUIRE_GUARD_PRIVILEGES();
    if (not_built_is_reported()) return;
    connectx_guard_opts o = opts(CONNECTX_GUARD_F_MOUNT_BPFFS);
    ASSERT_EQ(connectx_guard_attach(cg_.c_str(), &o, nullptr), 1) << strerror(errno);
    // Detached without its pin directory: the pins now hold defunct links.
    EXPECT_EQ(connectx_guard_detach(cg_.c_str(), nullptr), 1);
    EXPECT_EQ(pins_in(pin_), 2);
    errno = 0;
    EXPECT_EQ(connectx_guard_attach(cg_.c_str(), &o, nullptr), -1);
    EXPECT_EQ(errno, EEXIST);
    EXPECT_EQ(info().attached, 0u);                        // nothing half-attached
    EXPECT_EQ(connectx_guard_detach(cg_.c_str(), &o), 1);  // removes the stale pins
    EXPECT_EQ(pins_in(pin_), 0);
}

// --- bad input: exact errno, nothing attached ---

TEST_F(Guard, RootCgroupIsRefusedWithoutForce) {
    CXTEST_REQUIRE_GUARD_PRIVILEGES();
    if (not_built_is_reported()) return;
    int before4 = progs_on_cgroup(root_, BPF_CGROUP_INET4_CONNECT);
    connectx_guard* g = nullptr;
    errno = 0;
    EXPECT_EQ(connectx_guard_attach(root_.c_str(), nullptr, &g), -1);
    EXPECT_EQ(errno, EPERM);
    EXPECT_EQ(g, nullptr);
    // The same directory reached through another spelling is still the root.
    errno = 0;
    EXPECT_EQ(connectx_guard_attach((cg_ + "/..").c_str(), nullptr, &g), -1);
    EXPECT_EQ(errno, EPERM);
    EXPECT_EQ(progs_on_cgroup(root_, BPF_CGROUP_INET4_CONNECT), before4);
}

TEST_F(Guard, BadArgumentsGetExactErrno) {
    CXTEST_REQUIRE_GUARD_PRIVILEGES();
    if (not_built_is_reported()) return;
    auto attach_errno = [](const char* cg, const connectx_guard_opts* o, bool handle) {
        connectx_guard* g = nullptr;
        errno = 0;
        int rc = connectx_guard_attach(cg, o, handle ? &g : nullptr);
        EXPECT_EQ(g, nullptr);
        return rc == -1 ? errno : 0;
    };
    const char* cg = cg_.c_str();
    EXPECT_EQ(attach_errno(nullptr, nullptr, true), EINVAL);
    EXPECT_EQ(attach_errno("", nullptr, true), EINVAL);
    EXPECT_EQ(attach_errno(cg, nullptr, false), EINVAL);  // no handle and no pins
    connectx_guard_opts o = opts(0, false);
    o.size = 4;
    EXPECT_EQ(attach_errno(cg, &o, true), EINVAL);
    o = opts(0x80, false);
    EXPECT_EQ(attach_errno(cg, &o, true), EINVAL);
    o = opts(0, false);
    o.pin_dir = "";
    EXPECT_EQ(attach_errno(cg, &o, true), EINVAL);
    EXPECT_EQ(attach_errno((cg_ + "/missing").c_str(), nullptr, true), ENOENT);
    EXPECT_EQ(attach_errno((cg_ + "/cgroup.procs").c_str(), nullptr, true), ENOTDIR);
    EXPECT_EQ(attach_errno("/tmp", nullptr, true), EMEDIUMTYPE);
    o = opts(0);  // the pin directory is not bpffs and may not be mounted
    EXPECT_EQ(attach_errno(cg, &o, true), EMEDIUMTYPE);
    o.pin_dir = "/nonexistent-connectx-pins";
    EXPECT_EQ(attach_errno(cg, &o, true), ENOENT);

    connectx_guard_info s{};
    errno = 0;
    EXPECT_EQ(connectx_guard_status(cg, nullptr, nullptr), -1);
    EXPECT_EQ(errno, EINVAL);
    s.size = 8;
    errno = 0;
    EXPECT_EQ(connectx_guard_status(cg, nullptr, &s), -1);
    EXPECT_EQ(errno, EINVAL);
    errno = 0;
    EXPECT_EQ(connectx_guard_detach("/tmp", nullptr), -1);
    EXPECT_EQ(errno, EMEDIUMTYPE);

    EXPECT_FALSE(pin_mounted());
    EXPECT_EQ(progs_on_cgroup(cg_, BPF_CGROUP_INET4_CONNECT), 0);
    EXPECT_EQ(progs_on_cgroup(cg_, BPF_CGROUP_INET6_CONNECT), 0);
    connectx_guard_close(nullptr);  // a no-op
}

// --- the C++ API ---

TEST_F(Guard, CxxApiAttachStatusDetach) {
    CXTEST_REQUIRE_GUARD_PRIVILEGES();
    if (!cx::guard::available()) {
        auto r = cx::guard::attach(cg_.c_str());
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error(), std::errc::not_supported);
        return;
    }
    {
        auto r = cx::guard::attach(cg_.c_str());
        ASSERT_TRUE(r) << r.error().message();
        EXPECT_TRUE(r->attached_now);
        EXPECT_TRUE(r->owner);
        auto again = cx::guard::attach(cg_.c_str());
        ASSERT_TRUE(again);
        EXPECT_FALSE(again->attached_now);
        EXPECT_FALSE(again->owner);
        auto s = cx::guard::status(cg_.c_str());
        ASSERT_TRUE(s);
        EXPECT_TRUE(s->attached());
        EXPECT_NE(s->prog_id4, 0u);
        EXPECT_NE(s->prog_id6, 0u);
        EXPECT_NE(s->prog_id4, s->prog_id6);
    }  // the handle goes: the unpinned guard with it
    auto s = cx::guard::status(cg_.c_str());
    ASSERT_TRUE(s);
    EXPECT_FALSE(s->connect4 || s->connect6);
    auto root = cx::guard::attach(root_.c_str());
    ASSERT_FALSE(root);
    EXPECT_EQ(root.error(), std::errc::operation_not_permitted);
    auto d = cx::guard::detach(cg_.c_str());
    ASSERT_TRUE(d);
    EXPECT_FALSE(*d);
}

// --- the connectx-guard tool ---

#ifdef CONNECTX_GUARD_TOOL_PATH
constexpr const char* kTool = CONNECTX_GUARD_TOOL_PATH;

// Runs connectx-guard with the words of `args` (split at spaces).
cxtest::cli_result run_tool(const std::string& args) {
    std::vector<std::string> words;
    std::istringstream in(args);
    for (std::string w; in >> w;) words.push_back(w);
    return cxtest::run_program(kTool, words);
}

nlohmann::json parse_json(const std::string& text) {
    nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(doc.is_discarded()) << "not one JSON document:\n" << text;
    return doc;
}

// A foreground `connectx-guard attach` in the background, its output in a file.
class foreground_attach {
public:
    explicit foreground_attach(const std::string& cgroup, const std::string& extra = "") {
        char tmpl[] = "/tmp/connectx-guard-out.XXXXXX";
        int fd = ::mkstemp(tmpl);
        EXPECT_GE(fd, 0) << strerror(errno);
        out_path_ = tmpl;
        std::string cg = cgroup;
        std::string ex = extra;
        pid_ = ::fork();
        if (pid_ == 0) {
            ::dup2(fd, 1);
            ::dup2(fd, 2);
            if (ex.empty())
                ::execl(kTool, kTool, "attach", "--cgroup", cg.c_str(), nullptr);
            else
                ::execl(kTool, kTool, "attach", ex.c_str(), "--cgroup", cg.c_str(), nullptr);
            ::_exit(127);
        }
        ::close(fd);
    }
    ~foreground_attach() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        ::unlink(out_path_.c_str());
    }
    // Waits (at most 10 s) until the output holds `text`.
    bool wait_for(const std::string& text) const {
        for (int i = 0; i < 200; ++i) {
            if (output().find(text) != std::string::npos) return true;
            ::usleep(50 * 1000);
        }
        return false;
    }
    // Waits (at most 10 s) for the exit; its status, or -1.
    int wait_exit() {
        for (int i = 0; i < 200; ++i) {
            int st = 0;
            if (::waitpid(pid_, &st, WNOHANG) == pid_) {
                pid_ = -1;
                return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
            }
            ::usleep(50 * 1000);
        }
        return -1;
    }
    void signal(int sig) const { ::kill(pid_, sig); }
    std::string output() const {
        std::ifstream in(out_path_);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }

private:
    pid_t pid_ = -1;
    std::string out_path_;
};

#define CXTEST_REQUIRE_GUARD_BUILT()                                                          \
    do {                                                                                      \
        if (!connectx_guard_available()) {                                                    \
            auto r = run_tool("attach --cgroup " + cg_ + " --pin " + pin_);                   \
            EXPECT_EQ(r.exit, 1);                                                             \
            EXPECT_NE(r.err.find("built without the BPF guard"), std::string::npos) << r.err; \
            return;                                                                           \
        }                                                                                     \
    } while (0)

TEST_F(Guard, ToolAttachStatusDetachWithPinsAndExitStatuses) {
    CXTEST_REQUIRE_GUARD_PRIVILEGES();
    CXTEST_REQUIRE_GUARD_BUILT();
    std::string cg = " --cgroup " + cg_;
    std::string pin = " --pin " + pin_;
    auto r = run_tool("attach --json" + cg + pin);
    EXPECT_EQ(r.exit, 0) << r.out << r.err;
    EXPECT_EQ(parse_json(r.out)["result"], "attached");
    EXPECT_TRUE(pin_mounted()) << "attach --pin mounts bpffs by default";
    r = run_tool("attach" + cg + pin);
    EXPECT_EQ(r.exit, 0);
    EXPECT_NE(r.out.find("already attached"), std::string::npos) << r.out;
    r = run_tool("status --json" + cg + pin);
    EXPECT_EQ(r.exit, 0);
    nlohmann::json st = parse_json(r.out);
    EXPECT_EQ(st["attached"], true) << r.out;
    EXPECT_EQ(st["connect4"]["attached"], true) << r.out;
    EXPECT_EQ(st["connect4"]["pinned"], true) << r.out;
    EXPECT_EQ(st["connect6"]["pinned"], true) << r.out;
    EXPECT_EQ(progs_on_cgroup(cg_, BPF_CGROUP_INET4_CONNECT), 1);
    r = run_tool("detach --json" + cg + pin);
    EXPECT_EQ(r.exit, 0);
    EXPECT_EQ(parse_json(r.out)["result"], "detached");
    EXPECT_EQ(pins_in(pin_), 0);
    EXPECT_EQ(run_tool("status" + cg).exit, 3);
    EXPECT_EQ(run_tool("attach").exit, 2);
    EXPECT_EQ(run_tool("status --force-root" + cg).exit, 2);
    EXPECT_EQ(run_tool("frobnicate" + cg).exit, 2);
}

// The README's example, word for word, where /sys/fs/bpf is bpffs (a systemd host): the pin
// directory /sys/fs/bpf/connectx does not exist yet and attach creates it inside bpffs.
TEST_F(Guard, ToolReadmeExampleCreatesThePinDirectoryInsideBpffs) {
    CXTEST_REQUIRE_GUARD_PRIVILEGES();
    CXTEST_REQUIRE_GUARD_BUILT();
    const std::string bpffs = "/sys/fs/bpf", dir = bpffs + "/connectx";
    // This process's private mount namespace (SetUpTestSuite): the host's /sys/fs/bpf is untouched.
    ASSERT_EQ(::mount("bpf", bpffs.c_str(), "bpf", 0, "mode=0700"), 0) << strerror(errno);
    struct stat st {};
    ASSERT_NE(::stat(dir.c_str(), &st), 0) << "a fresh bpffs holds no connectx directory";
    std::string cg = " --cgroup " + cg_, pin = " --pin " + dir;
    auto r = run_tool("attach" + cg + pin);
    EXPECT_EQ(r.exit, 0) << r.err;
    EXPECT_EQ(r.out, cg_ + ": attached and pinned in " + dir + "\n");
    EXPECT_EQ(pins_in(dir), 2);
    r = run_tool("status" + cg + pin + " --json");
    EXPECT_EQ(r.exit, 0) << r.err;
    EXPECT_EQ(parse_json(r.out)["connect6"]["pinned"], true) << r.out;
    r = run_tool("detach" + cg + pin);
    EXPECT_EQ(r.exit, 0) << r.err;
    EXPECT_EQ(r.out, cg_ + ": detached, pins removed\n");
    EXPECT_EQ(pins_in(dir), 0);
    r = run_tool("detach" + cg + pin);  // again: nothing is pinned there, nor attached
    EXPECT_EQ(r.exit, 1);
    EXPECT_NE(r.err.find("which is not attached either: nothing to detach"), std::string::npos)
        << r.err;
    EXPECT_EQ(::rmdir(dir.c_str()), 0) << strerror(errno);
    EXPECT_EQ(::umount2(bpffs.c_str(), 0), 0) << strerror(errno);
}

// Where no bpffs is mounted on /sys/fs/bpf (a host without systemd), mkdir of the README's pin
// directory fails with a misleading errno (ENOENT on sysfs): the message names the parent's
// filesystem and what to do, not the cgroup.
TEST_F(Guard, ToolPinDirectoryThatCannotBeCreatedNamesItsParentFilesystem) {
    CXTEST_REQUIRE_GUARD_PRIVILEGES();
    CXTEST_REQUIRE_GUARD_BUILT();
    // In this process's private mount namespace only: a systemd host's bpffs comes off.
    while (::umount2("/sys/fs/bpf", MNT_DETACH) == 0) {
    }
    const std::string dir = "/sys/fs/bpf/connectx";
    auto r = run_tool("attach --cgroup " + cg_ + " --pin " + dir);
    EXPECT_EQ(r.exit, 1);
    const std::string head = "connectx-guard: pin directory " + dir + ": cannot create it: ";
    const std::string tail =
        " (/sys/fs/bpf is sysfs, not bpffs: mount bpffs there first, mount -t bpf bpf "
        "/sys/fs/bpf)\n";
    EXPECT_EQ(r.err.rfind(head, 0), 0u) << r.err;
    ASSERT_GE(r.err.size(), tail.size());
    EXPECT_EQ(r.err.substr(r.err.size() - tail.size()), tail) << r.err;
    EXPECT_EQ(r.err.find("cgroup"), std::string::npos) << r.err;
    EXPECT_EQ(progs_on_cgroup(cg_, BPF_CGROUP_INET4_CONNECT), 0);
}

TEST_F(Guard, ToolPinThatIsARegularFileIsNamedAsNotADirectory) {
    CXTEST_REQUIRE_GUARD_PRIVILEGES();
    CXTEST_REQUIRE_GUARD_BUILT();
    std::string file = pin_ + "/file";
    ASSERT_EQ(::close(::open(file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600)), 0);
    auto r = run_tool("attach --cgroup " + cg_ + " --pin " + file);
    EXPECT_EQ(r.exit, 1);
    EXPECT_EQ(r.err, "connectx-guard: pin directory " + file + ": not a directory\n");
    EXPECT_EQ(progs_on_cgroup(cg_, BPF_CGROUP_INET4_CONNECT), 0);
    EXPECT_EQ(::unlink(file.c_str()), 0);
}

// A directory that is not cgroup v2, and no --pin: the message is about the cgroup alone.
TEST_F(Guard, ToolNonCgroup2DirectoryNamesOnlyTheCgroup) {
    CXTEST_REQUIRE_GUARD_PRIVILEGES();
    CXTEST_REQUIRE_GUARD_BUILT();
    auto r = run_tool("attach --cgroup " + pin_);
    EXPECT_EQ(r.exit, 1);
    EXPECT_EQ(r.err.rfind("connectx-guard: cgroup " + pin_ + ": not a cgroup v2 directory", 0), 0u)
        << r.err;
    EXPECT_EQ(r.err.find("bpffs"), std::string::npos) << "mentions no pin directory: " << r.err;
    r = run_tool("attach --cgroup " + cg_ + "/missing");
    EXPECT_EQ(r.err, "connectx-guard: cgroup " + cg_ + "/missing: No such file or directory\n");
}

TEST_F(Guard, ToolRootCgroupNeedsForceRootAndSaysSo) {
    CXTEST_REQUIRE_GUARD_PRIVILEGES();
    CXTEST_REQUIRE_GUARD_BUILT();
    auto r = run_tool("attach --cgroup " + root_ + " --pin " + pin_);
    EXPECT_EQ(r.exit, 1);
    EXPECT_EQ(r.err, "connectx-guard: cgroup " + root_ +
                         ": the root cgroup (every process of the host): add --force-root to "
                         "attach there\n");
    EXPECT_EQ(progs_on_cgroup(root_, BPF_CGROUP_INET4_CONNECT), 0);
}

TEST_F(Guard, ToolForegroundAttachExitsWhenAnotherProcessDetaches) {
    CXTEST_REQUIRE_GUARD_PRIVILEGES();
    CXTEST_REQUIRE_GUARD_BUILT();
    foreground_attach fg(cg_);
    ASSERT_TRUE(fg.wait_for("holding it")) << fg.output();
    EXPECT_EQ(run_tool("detach --cgroup " + cg_).exit, 0);
    EXPECT_EQ(fg.wait_exit(), 1) << fg.output();
    EXPECT_NE(fg.output().find("connectx-guard: cgroup " + cg_ +
                               ": the guard this process held was detached by another process"),
              std::string::npos)
        << fg.output();
}

TEST_F(Guard, ToolForegroundAttachSaysWhatItDidOnSigterm) {
    CXTEST_REQUIRE_GUARD_PRIVILEGES();
    CXTEST_REQUIRE_GUARD_BUILT();
    foreground_attach fg(cg_, "--json");
    ASSERT_TRUE(fg.wait_for("\"attached\"")) << fg.output();
    EXPECT_EQ(progs_on_cgroup(cg_, BPF_CGROUP_INET6_CONNECT), 1);
    fg.signal(SIGTERM);
    EXPECT_EQ(fg.wait_exit(), 0) << fg.output();
    std::string out = fg.output();
    std::string last = out.substr(out.find('\n') + 1);
    nlohmann::json doc = parse_json(last);
    EXPECT_EQ(doc["result"], "released") << out;
    EXPECT_EQ(doc["signal"], "SIGTERM") << out;
    EXPECT_EQ(progs_on_cgroup(cg_, BPF_CGROUP_INET6_CONNECT), 0) << "released on SIGTERM";
}

// The wrong --pin: the guard's pins are elsewhere. Detaching would leave them holding defunct
// links: refused, and the guard and its pins stay as they were.
TEST_F(Guard, ToolDetachWithPinHoldingNoPinsFailsAndTouchesNothing) {
    CXTEST_REQUIRE_GUARD_PRIVILEGES();
    CXTEST_REQUIRE_GUARD_BUILT();
    ASSERT_EQ(run_tool("attach --cgroup " + cg_ + " --pin " + pin_).exit, 0);
    std::string other = pin_ + "/other";  // inside the bpffs attach mounted on pin_
    ASSERT_EQ(::mkdir(other.c_str(), 0700), 0) << strerror(errno);
    auto r = run_tool("detach --cgroup " + cg_ + " --pin " + other);
    EXPECT_EQ(r.exit, 1);
    EXPECT_EQ(r.err, "connectx-guard: pin directory " + other + ": holds no pin of the guard on " +
                         cg_ + " (connectx-guard-" + std::to_string(cg_id_) +
                         "-connect4, -connect6); nothing detached: give the --pin used at "
                         "attach, or no --pin\n");
    EXPECT_EQ(pins_in(pin_), 2);
    EXPECT_EQ(progs_on_cgroup(cg_, BPF_CGROUP_INET4_CONNECT), 1);
    EXPECT_EQ(::rmdir(other.c_str()), 0);
}

TEST_F(Guard, ToolJsonErrorsAreOneJsonObjectOnStdout) {
    CXTEST_REQUIRE_GUARD_PRIVILEGES();
    CXTEST_REQUIRE_GUARD_BUILT();
    auto r = run_tool("status --cgroup " + cg_ + "/missing --json");
    EXPECT_EQ(r.exit, 1);
    EXPECT_EQ(r.err, "");
    EXPECT_EQ(parse_json(r.out)["error"], "cgroup " + cg_ + "/missing: No such file or directory");
    r = run_tool("-j attach --bogus");  // a usage error before the JSON flag is read still is JSON
    EXPECT_EQ(r.exit, 2);
    EXPECT_EQ(parse_json(r.out)["error"], "unknown option '--bogus'");
    r = run_tool("status -p --cgroup " + cg_);  // -p: indented JSON, implies -j
    EXPECT_EQ(r.exit, 3);
    EXPECT_NE(r.out.find("{\n    \"cgroup\": "), std::string::npos) << r.out;
    EXPECT_EQ(parse_json(r.out)["attached"], false);
}

TEST_F(Guard, ToolOptionErrorsNameTheWord) {
    for (auto [args, message] : std::vector<std::pair<std::string, std::string>>{
             {"attach --bogus", "unknown option '--bogus'"},
             {"attach -x", "unknown option '-x'"},
             {"attach --cgroup", "option '--cgroup' needs an argument"},
             {"frobnicate --cgroup /x", "unknown command 'frobnicate' (attach, detach or status)"},
             {"status --cgroup /x extra", "unexpected argument 'extra'"},
             {"detach --cgroup /x --force-root", "option '--force-root' applies to attach only"},
             {"status", "status needs --cgroup PATH"},
         }) {
        auto r = run_tool(args);
        EXPECT_EQ(r.exit, 2) << args;
        EXPECT_EQ(r.err, "connectx-guard: " + message + "\nTry 'connectx-guard --help'.\n") << args;
    }
}

TEST_F(Guard, ToolVersionAndHelp) {
    auto r = run_tool("--version");
    EXPECT_EQ(r.exit, 0);
    EXPECT_EQ(r.out, "connectx-guard " + std::to_string(CONNECTX_VERSION_MAJOR) + "." +
                         std::to_string(CONNECTX_VERSION_MINOR) + "." +
                         std::to_string(CONNECTX_VERSION_PATCH) + "\n");
    r = run_tool("--help");
    EXPECT_EQ(r.exit, 0);
    for (const char* opt : {"--cgroup", "--pin", "--no-mount", "--force-root", "--json", "--pretty",
                            "--help", "--version"})
        EXPECT_NE(r.out.find(opt), std::string::npos) << opt;
}
#endif

}  // namespace
