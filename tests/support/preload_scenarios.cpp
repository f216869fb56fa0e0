// preload_scenarios.cpp - see preload_scenarios.hpp. Each scenario is a plain function using the
// socket API the way a program does; CHECK prints the failed expression and errno and fails.
#include "support/preload_scenarios.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>
#include <vector>

#include "support/preload_run.hpp"

namespace cxtest {
namespace {

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            std::fprintf(stderr, "%s:%d: CHECK(%s) failed, errno %s\n", __FILE__, __LINE__, #cond, \
                         strerrorname_np(errno));                                                  \
            return false;                                                                          \
        }                                                                                          \
    } while (0)

constexpr uint16_t kPort = 7100;  // servers: outside the namespace's ephemeral range

sockaddr_in in4(const char* ip, uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}
const sockaddr* sa(const sockaddr_in& a) {
    return reinterpret_cast<const sockaddr*>(&a);
}

// The local end of fd.
sockaddr_in local_of(int fd) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    return a;
}
std::string ip_of(const sockaddr_in& a) {
    char buf[INET_ADDRSTRLEN];
    return inet_ntop(AF_INET, &a.sin_addr, buf, sizeof buf);
}

int udp() {
    return socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
}
int udp_server(const char* ip, uint16_t port) {
    int s = udp();
    auto a = in4(ip, port);
    return bind(s, sa(a), sizeof a) == 0 ? s : -1;
}
int tcp_server(const char* ip, uint16_t port) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    auto a = in4(ip, port);
    return bind(s, sa(a), sizeof a) == 0 && listen(s, 64) == 0 ? s : -1;
}

// The source address of the next datagram on server socket `srv`.
sockaddr_in received_from(int srv) {
    sockaddr_in from{};
    socklen_t len = sizeof from;
    char buf[64];
    pollfd p{srv, POLLIN, 0};
    if (poll(&p, 1, 2000) == 1)
        recvfrom(srv, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
    return from;
}

// A non-blocking connect as connect(2) answers it: 0 or EINPROGRESS; while the handshake runs,
// EALREADY; once it is done, 0 the first time and EISCONN from then on. Never a second SYN.
bool connects_like_connect2(int c, const sockaddr_in& dst) {
    int rc = connect(c, sa(dst), sizeof dst);
    CHECK(rc == 0 || errno == EINPROGRESS);
    for (int i = 0; rc != 0 && i < 100; ++i) {
        pollfd p{c, POLLOUT, 0};
        poll(&p, 1, 20);
        rc = connect(c, sa(dst), sizeof dst);
        CHECK(rc == 0 || errno == EALREADY || errno == EISCONN);
        if (rc != 0 && errno == EISCONN) rc = 0;
    }
    CHECK(rc == 0);
    CHECK(connect(c, sa(dst), sizeof dst) == -1 && errno == EISCONN);
    return true;
}

bool tcp_nonblocking_connect_keeps_connect_contract() {
    int srv = tcp_server("127.0.1.1", kPort);
    CHECK(srv >= 0);
    auto dst = in4("127.0.1.1", kPort);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    auto src = in4("127.0.0.2", 0);
    CHECK(bind(c, sa(src), sizeof src) == 0);
    CHECK(connects_like_connect2(c, dst));
    CHECK(ip_of(local_of(c)) == "127.0.0.2" && local_of(c).sin_port != 0);
    close(c);
    close(srv);
    return true;
}

// Through connectx itself (CONNECTX_SOURCE set by the test): the same contract.
bool tcp_nonblocking_via_connectx_keeps_connect_contract() {
    int srv = tcp_server("127.0.1.1", kPort);
    CHECK(srv >= 0);
    auto dst = in4("127.0.1.1", kPort);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    CHECK(connects_like_connect2(c, dst));
    CHECK(ip_of(local_of(c)) == "127.0.0.3");
    close(c);
    close(srv);
    return true;
}

bool udp_reconnect_and_af_unspec_work_as_connect() {
    int s1 = udp_server("127.0.1.1", kPort), s2 = udp_server("127.0.1.2", kPort);
    CHECK(s1 >= 0 && s2 >= 0);
    auto d1 = in4("127.0.1.1", kPort), d2 = in4("127.0.1.2", kPort);
    int c = udp();
    CHECK(connect(c, sa(d1), sizeof d1) == 0);
    uint16_t port = local_of(c).sin_port;
    CHECK(connect(c, sa(d2), sizeof d2) == 0);  // re-connect: another destination, same port
    CHECK(local_of(c).sin_port == port);
    CHECK(send(c, "x", 1, 0) == 1);
    CHECK(received_from(s2).sin_port == port);
    sockaddr unspec{};
    unspec.sa_family = AF_UNSPEC;
    CHECK(connect(c, &unspec, sizeof unspec) == 0);
    sockaddr_in peer;
    socklen_t len = sizeof peer;
    CHECK(getpeername(c, reinterpret_cast<sockaddr*>(&peer), &len) == -1 && errno == ENOTCONN);
    close(c);
    close(s1);
    close(s2);
    return true;
}

// getsockname() right after bind(ip, 0) shows what it shows without the drop-in: ip and a port.
bool udp_bind_zero_then_getsockname_shows_a_port() {
    int c = udp();
    auto src = in4("127.0.0.2", 0);
    CHECK(bind(c, sa(src), sizeof src) == 0);
    sockaddr_in l = local_of(c);
    CHECK(ip_of(l) == "127.0.0.2" && l.sin_port != 0);
    auto dst = in4("127.0.1.1", kPort);
    CHECK(connect(c, sa(dst), sizeof dst) == 0);
    CHECK(local_of(c).sin_port == l.sin_port);
    close(c);
    return true;
}

bool udp_bind_zero_then_sendto_sends_from_that_address() {
    int srv = udp_server("127.0.1.1", kPort);
    CHECK(srv >= 0);
    int c = udp();
    auto src = in4("127.0.0.2", 0);
    CHECK(bind(c, sa(src), sizeof src) == 0);
    auto dst = in4("127.0.1.1", kPort);
    CHECK(sendto(c, "x", 1, 0, sa(dst), sizeof dst) == 1);
    sockaddr_in from = received_from(srv);
    CHECK(ip_of(from) == "127.0.0.2" && from.sin_port == local_of(c).sin_port);
    close(c);
    close(srv);
    return true;
}

bool udp_bind_zero_then_connect_uses_that_address() {
    int c = udp();
    auto src = in4("127.0.0.2", 0);
    CHECK(bind(c, sa(src), sizeof src) == 0);
    auto dst = in4("127.0.1.1", kPort);
    CHECK(connect(c, sa(dst), sizeof dst) == 0);
    CHECK(ip_of(local_of(c)) == "127.0.0.2");
    CHECK(bind(c, sa(src), sizeof src) == -1 && errno == EINVAL);  // bound, as without us
    close(c);
    return true;
}

// A second bind while the first is deferred fails as it does after a real bind.
bool udp_second_bind_while_deferred_is_einval() {
    int c = udp();
    auto src = in4("127.0.0.2", 0);
    CHECK(bind(c, sa(src), sizeof src) == 0);
    CHECK(bind(c, sa(src), sizeof src) == -1 && errno == EINVAL);
    close(c);
    return true;
}

// dup, dup2, dup3 and fcntl(F_DUPFD_CLOEXEC) carry the deferred bind to the new descriptor.
bool dup_family_carries_deferred_bind() {
    auto dst = in4("127.0.1.1", kPort);
    auto src = in4("127.0.0.2", 0);
    for (int how = 0; how < 4; ++how) {
        int a = udp();
        CHECK(bind(a, sa(src), sizeof src) == 0);
        int spare = udp();
        int b = how == 0   ? dup(a)
                : how == 1 ? dup2(a, spare)
                : how == 2 ? dup3(a, spare, O_CLOEXEC)
                           : fcntl(a, F_DUPFD_CLOEXEC, 100);
        CHECK(b >= 0);
        close(a);
        CHECK(connect(b, sa(dst), sizeof dst) == 0);
        CHECK(ip_of(local_of(b)) == "127.0.0.2");
        close(b);
        if (b != spare) close(spare);
    }
    return true;
}

// A descriptor number closed and reused does not inherit the old socket's deferred bind:
// closed with syscall(SYS_close) (as libuv does) and reused by a socket received over a UNIX
// socket (SCM_RIGHTS); closed with close() and reused by socket().
bool reused_descriptor_number_does_not_inherit_deferred_bind() {
    int pair[2];
    CHECK(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, pair) == 0);
    auto src = in4("127.0.0.2", 0);
    auto dst = in4("127.0.1.1", kPort);
    int a = udp();
    CHECK(bind(a, sa(src), sizeof src) == 0);
    int passed = udp();
    CHECK(syscall(SYS_close, a) == 0);
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    char byte = 'x';
    iovec iov{&byte, 1};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &passed, sizeof passed);
    CHECK(sendmsg(pair[0], &m, 0) == 1);
    close(passed);
    CHECK(recvmsg(pair[1], &m, MSG_CMSG_CLOEXEC) == 1);
    cmsghdr* got = CMSG_FIRSTHDR(&m);
    CHECK(got != nullptr);
    int b;
    std::memcpy(&b, CMSG_DATA(got), sizeof b);
    CHECK(b == a);
    CHECK(connect(b, sa(dst), sizeof dst) == 0);
    CHECK(ip_of(local_of(b)) != "127.0.0.2");
    close(b);
    int d0 = udp();
    CHECK(bind(d0, sa(src), sizeof src) == 0);
    close(d0);
    int d = udp();
    CHECK(d == d0);
    CHECK(connect(d, sa(dst), sizeof dst) == 0);
    CHECK(ip_of(local_of(d)) != "127.0.0.2");
    close(d);
    close(pair[0]);
    close(pair[1]);
    return true;
}

// A forked child keeps the parent's descriptors and their state; an exec'd program inherits
// the drop-in through LD_PRELOAD.
bool fork_and_exec_keep_the_drop_in() {
    int a = udp();
    auto src = in4("127.0.0.2", 0);
    CHECK(bind(a, sa(src), sizeof src) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        auto dst = in4("127.0.1.1", kPort);
        bool ok = connect(a, sa(dst), sizeof dst) == 0 && ip_of(local_of(a)) == "127.0.0.2";
        if (ok) {
            setenv("CXTEST_PRELOAD_SCENARIO", "drop_in_is_loaded", 1);
            execl("/proc/self/exe", "/proc/self/exe", nullptr);
        }
        _exit(1);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(a);
    return true;
}

bool drop_in_is_loaded() {
    std::ifstream maps("/proc/self/maps");
    std::stringstream text;
    text << maps.rdbuf();
    CHECK(text.str().find("libconnectx-preload.so") != std::string::npos);
    return true;
}

// Servers: an explicit-port UDP bind, a TCP bind(ip, 0) + listen, and SO_REUSEPORT sockets.
bool servers_are_untouched() {
    int u = udp_server("127.0.1.1", kPort);
    CHECK(u >= 0 && ntohs(local_of(u).sin_port) == kPort);
    int t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    auto any = in4("127.0.1.1", 0);
    CHECK(bind(t, sa(any), sizeof any) == 0 && listen(t, 8) == 0);
    uint16_t port = local_of(t).sin_port;
    CHECK(port != 0);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    auto there = in4("127.0.1.1", ntohs(port));
    CHECK(connect(c, sa(there), sizeof there) == 0);
    int acc = accept(t, nullptr, nullptr);
    CHECK(acc >= 0);
    int r1 = udp(), r2 = udp(), one = 1;
    CHECK(setsockopt(r1, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == 0);
    CHECK(setsockopt(r2, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == 0);
    CHECK(bind(r1, sa(any), sizeof any) == 0);
    sockaddr_in shared = local_of(r1);
    CHECK(shared.sin_port != 0);  // really bound now, as without the drop-in
    CHECK(bind(r2, sa(shared), sizeof shared) == 0);
    for (int fd : {u, t, c, acc, r1, r2}) close(fd);
    return true;
}

// bind(ip, port) + connect, the connection closed by us first (TIME_WAIT), then the same again
// a second later: the drop-in binds with SO_REUSEADDR and the kernel reuses the TIME_WAIT.
bool tcp_pinned_port_survives_time_wait() {
    int srv = tcp_server("127.0.1.1", kPort);
    CHECK(srv >= 0);
    auto dst = in4("127.0.1.1", kPort);
    auto src = in4("127.0.0.1", 30000);
    for (int round = 0; round < 2; ++round) {
        int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK(bind(c, sa(src), sizeof src) == 0);
        CHECK(connect(c, sa(dst), sizeof dst) == 0);
        int acc = accept(srv, nullptr, nullptr);
        CHECK(acc >= 0);
        close(c);  // we close first: our end goes to TIME_WAIT
        char b;
        CHECK(read(acc, &b, 1) == 0);
        close(acc);
        sleep(1);  // TIME_WAIT reuse needs a newer timestamp second (tcp_tw_reuse)
    }
    close(srv);
    return true;
}

// Threads connecting UDP sockets at once: every connection gets a 4-tuple of its own.
bool threads_get_unique_udp_tuples() {
    constexpr int kThreads = 4, kEach = 12;
    std::vector<std::tuple<uint32_t, uint16_t, uint32_t>> seen[kThreads];
    std::atomic<int> failures{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < kThreads; ++t)
        ts.emplace_back([&, t] {
            for (int i = 0; i < kEach; ++i) {
                auto dst = in4(i % 4 == 0   ? "127.0.1.1"
                               : i % 4 == 1 ? "127.0.1.2"
                               : i % 4 == 2 ? "127.0.1.3"
                                            : "127.0.1.4",
                               kPort);
                int c = udp();
                if (connect(c, sa(dst), sizeof dst) != 0) {
                    ++failures;
                    continue;
                }
                auto l = local_of(c);
                seen[t].emplace_back(l.sin_addr.s_addr, l.sin_port, dst.sin_addr.s_addr);
            }
        });
    for (auto& t : ts) t.join();
    CHECK(failures == 0);
    std::set<std::tuple<uint32_t, uint16_t, uint32_t>> all;
    for (auto& v : seen) all.insert(v.begin(), v.end());
    CHECK(all.size() == size_t(kThreads * kEach));  // 48 flows > the 16-port range
    return true;
}

// An IPv4 sockaddr on a dual-stack IPv6 UDP socket: connectx refuses it, the kernel takes it.
bool ipv4_sockaddr_on_dual_stack_socket_is_connected_by_the_kernel() {
    int c = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    auto dst = in4("127.0.1.1", kPort);
    CHECK(connect(c, sa(dst), sizeof dst) == 0);
    sockaddr_in6 mapped{};
    mapped.sin6_family = AF_INET6;
    mapped.sin6_port = htons(kPort);
    inet_pton(AF_INET6, "::ffff:127.0.1.2", &mapped.sin6_addr);
    int m = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    CHECK(connect(m, reinterpret_cast<sockaddr*>(&mapped), sizeof mapped) == 0);
    close(c);
    close(m);
    return true;
}

// Enough UDP flows to pass the range: 16 per destination with the drop-in, 16 in all without
// (CONNECTX_OFF=1 makes the test expect EAGAIN at the 17th).
bool udp_flows_pass_the_range_unless_off() {
    bool off = std::getenv("CONNECTX_OFF") != nullptr;
    std::vector<int> held;
    int made = 0;
    for (const char* d : {"127.0.1.1", "127.0.1.2"}) {
        for (int i = 0; i < 16; ++i) {
            auto dst = in4(d, kPort);
            int c = udp();
            if (connect(c, sa(dst), sizeof dst) != 0) {
                CHECK(off && errno == EAGAIN);
                close(c);
                continue;
            }
            held.push_back(c);
            ++made;
        }
    }
    CHECK(made == (off ? 16 : 32));
    for (int c : held) close(c);
    return true;
}

// Under CONNECTX_POOL=127.0.0.0/30 (127.0.0.1 and .2): 2 sources x 16 ports x 2 destinations,
// each flow's 4-tuple distinct, both sources used toward each destination; then EAGAIN.
bool udp_flows_from_a_pool_pass_sources_times_range() {
    std::vector<int> held;
    std::set<std::string> tuples, sources;
    for (const char* d : {"127.0.1.1", "127.0.1.2"}) {
        for (int i = 0; i < 2 * 16; ++i) {
            auto dst = in4(d, kPort);
            int c = udp();
            CHECK(connect(c, sa(dst), sizeof dst) == 0);
            sockaddr_in l{};
            socklen_t len = sizeof l;
            CHECK(getsockname(c, reinterpret_cast<sockaddr*>(&l), &len) == 0);
            char ip[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &l.sin_addr, ip, sizeof ip);
            sources.insert(ip);
            tuples.insert(std::string(ip) + ":" + std::to_string(ntohs(l.sin_port)) + ">" + d);
            held.push_back(c);
        }
        auto dst = in4(d, kPort);
        int c = udp();
        CHECK(connect(c, sa(dst), sizeof dst) != 0 && errno == EAGAIN);
        close(c);
    }
    CHECK(tuples.size() == 64);
    CHECK(sources == (std::set<std::string>{"127.0.0.1", "127.0.0.2"}));
    for (int c : held) close(c);
    return true;
}

struct scenario {
    const char* name;
    bool (*run)();
};
constexpr scenario kScenarios[] = {
    {"tcp_nonblocking_connect_keeps_connect_contract",
     tcp_nonblocking_connect_keeps_connect_contract},
    {"tcp_nonblocking_via_connectx_keeps_connect_contract",
     tcp_nonblocking_via_connectx_keeps_connect_contract},
    {"udp_reconnect_and_af_unspec_work_as_connect", udp_reconnect_and_af_unspec_work_as_connect},
    {"udp_bind_zero_then_getsockname_shows_a_port", udp_bind_zero_then_getsockname_shows_a_port},
    {"udp_bind_zero_then_sendto_sends_from_that_address",
     udp_bind_zero_then_sendto_sends_from_that_address},
    {"udp_bind_zero_then_connect_uses_that_address", udp_bind_zero_then_connect_uses_that_address},
    {"udp_second_bind_while_deferred_is_einval", udp_second_bind_while_deferred_is_einval},
    {"dup_family_carries_deferred_bind", dup_family_carries_deferred_bind},
    {"reused_descriptor_number_does_not_inherit_deferred_bind",
     reused_descriptor_number_does_not_inherit_deferred_bind},
    {"fork_and_exec_keep_the_drop_in", fork_and_exec_keep_the_drop_in},
    {"drop_in_is_loaded", drop_in_is_loaded},
    {"servers_are_untouched", servers_are_untouched},
    {"tcp_pinned_port_survives_time_wait", tcp_pinned_port_survives_time_wait},
    {"threads_get_unique_udp_tuples", threads_get_unique_udp_tuples},
    {"ipv4_sockaddr_on_dual_stack_socket_is_connected_by_the_kernel",
     ipv4_sockaddr_on_dual_stack_socket_is_connected_by_the_kernel},
    {"udp_flows_pass_the_range_unless_off", udp_flows_pass_the_range_unless_off},
    {"udp_flows_from_a_pool_pass_sources_times_range",
     udp_flows_from_a_pool_pass_sources_times_range},
};

// Before GoogleTest's main: a re-executed copy runs its scenario and exits.
const bool g_ran_scenario = [] {
    const char* name = std::getenv("CXTEST_PRELOAD_SCENARIO");
    if (!name) return false;
    for (const scenario& s : kScenarios)
        if (std::strcmp(s.name, name) == 0) _exit(s.run() ? 0 : 1);
    std::fprintf(stderr, "no scenario named %s\n", name);
    _exit(2);
}();

}  // namespace

cli_result run_preload_scenario(const std::string& name,
                                const std::map<std::string, std::string>& env) {
    std::map<std::string, std::string> all = env;
    all["CXTEST_PRELOAD_SCENARIO"] = name;
    all["LD_PRELOAD"] = preload_library_path();
    // The drop-in is never instrumented (preload/CMakeLists.txt) and comes first in the list:
    // in the sanitizer build, tell ASan that is intended.
    all["ASAN_OPTIONS"] = "verify_asan_link_order=0:detect_leaks=0";
    return run_plain({"/proc/self/exe"}, 60, all);
}

}  // namespace cxtest
