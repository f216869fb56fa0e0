// tcp_fill_bench.cpp - TCP as the range fills: the cost of one connect by how many of the ports
// toward one destination are held, for plain connect(), connectx() and the bare techniques,
// filled the same way, in one run.
//
//   tcp_fill_bench [--ports N] [--rounds R]
//
// Each fill runs in a forked child in a private network namespace whose ip_local_port_range has
// N ports (default 8,000, from 20000): connections to one listener (127.0.1.1:8080, never
// accepted: the backlog holds them, so no server socket counts against the open-file limit) are
// opened and held until the range is full, then one more must fail with EADDRNOTAVAIL. A connect's
// cost is socket() + the path's calls, in this thread's CPU time (other work on a shared machine
// does not inflate it). The fills run A B C D E E D C B A, R times.
//
// Paths: plain connect(); connectx() with the source IP 127.0.0.1; connectx() with the
// destination only; the bare technique of a source IP (IP_BIND_ADDRESS_NO_PORT + bind +
// connect); and that technique with IP_LOCAL_PORT_RANGE set to the namespace's range (kernels
// from 6.8 then search in single steps: the reference row).
//
// Prints, per path and band of occupancy (0-10, 10-50, 50-90, 99-100 %), the mean cost in
// microseconds and its ratio to the path's own 0-10 % band; then what the last call returned.
#include <connectx/connectx.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench_env.hpp"
#include "thread_clock.hpp"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif
#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51
#endif

namespace {

constexpr int kBands = 4;
const char* const kBandNames[kBands] = {"0-10%", "10-50%", "50-90%", "99-100%"};
constexpr uint16_t kPortLo = 20000;

// The band of the k-th connection of `total` (1-based), -1 between 90 and 99 %.
int band_of(long k, long total) {
    const double frac = double(k) / double(total);
    if (frac <= 0.10) return 0;
    if (frac <= 0.50) return 1;
    if (frac <= 0.90) return 2;
    return frac > 0.99 ? 3 : -1;
}

enum class path { plain, connectx_source, connectx_dst_only, bare, bare_range, count };
const char* const kPathNames[] = {"plain connect()", "connectx, source IP",
                                  "connectx, destination only", "bare NO_PORT+bind+connect",
                                  "bare + IP_LOCAL_PORT_RANGE"};

struct fill_result {
    double ns[kBands] = {};
    long count[kBands] = {};
    long opened = 0;
    int last_errno = 0;  // of the call after the fill (or of the call that stopped it)
};

const sockaddr_in kDst = [] {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(0x7f010101);  // 127.1.1.1
    a.sin_port = htons(8080);
    return a;
}();
const sockaddr_in kSrc = [] {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(0x7f000001);
    return a;
}();

const sockaddr* sa(const sockaddr_in& a) {
    return reinterpret_cast<const sockaddr*>(&a);
}

// The path's calls on a fresh socket: 0 or -1 with errno.
int connect_by(path p, int fd, uint32_t ns_range) {
    int one = 1;
    switch (p) {
        case path::plain:
            return connect(fd, sa(kDst), sizeof kDst);
        case path::connectx_source:
            return connectx(fd, sa(kSrc), sizeof kSrc, sa(kDst), sizeof kDst, nullptr);
        case path::connectx_dst_only:
            return connectx(fd, nullptr, 0, sa(kDst), sizeof kDst, nullptr);
        case path::bare_range:
            if (setsockopt(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &ns_range, sizeof ns_range) < 0)
                return -1;
            [[fallthrough]];
        case path::bare:
            if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one) < 0 ||
                bind(fd, sa(kSrc), sizeof kSrc) < 0)
                return -1;
            return connect(fd, sa(kDst), sizeof kDst);
        case path::count:
            break;
    }
    errno = EINVAL;
    return -1;
}

[[noreturn]] void die(const char* what, int e) {
    std::fprintf(stderr, "tcp_fill_bench: %s: %s\n", what, strerror(e));
    _exit(2);
}

// The child's namespace: lo up, `ports` ports from kPortLo, a listener that never accepts.
void set_up_namespace(int ports) {
    if (unshare(CLONE_NEWNET) < 0) die("unshare(CLONE_NEWNET) (needs root)", errno);
    const std::string range = std::to_string(kPortLo) + " " + std::to_string(kPortLo + ports - 1);
    if (int e = cxbench::link_up("lo")) die("lo up", e);
    if (int e = cxbench::write_sysctl("net/ipv4/ip_local_port_range", range)) die("range", e);
    // The accept queue holds every connection (listen's backlog is capped by somaxconn).
    if (int e = cxbench::write_sysctl("net/core/somaxconn", "65535")) die("somaxconn", e);
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0 || bind(l, sa(kDst), sizeof kDst) < 0 || listen(l, 65535) < 0) die("listener", errno);
}

// One fill of `ports` ports by path `p`, in this (child) process.
fill_result fill(path p, int ports) {
    set_up_namespace(ports);
    const uint32_t ns_range = uint32_t(kPortLo + ports - 1) << 16 | kPortLo;
    fill_result r;
    std::vector<int> held;
    held.reserve(size_t(ports));
    for (long k = 1; k <= ports + 1; ++k) {
        const uint64_t t0 = thread_cpu_ns();
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int rc = fd < 0 ? -1 : connect_by(p, fd, ns_range);
        const uint64_t t1 = thread_cpu_ns();
        if (rc < 0) {
            r.last_errno = errno;
            if (fd >= 0) close(fd);
            break;
        }
        held.push_back(fd);
        if (int b = band_of(k, ports); b >= 0 && k <= ports) {
            r.ns[b] += double(t1 - t0);
            ++r.count[b];
        }
    }
    r.opened = long(held.size());
    return r;
}

// fill() in a forked child; its result comes back through a pipe.
fill_result fill_in_child(path p, int ports) {
    int pipe_fds[2];
    if (pipe(pipe_fds) < 0) die("pipe", errno);
    pid_t pid = fork();
    if (pid < 0) die("fork", errno);
    if (pid == 0) {
        close(pipe_fds[0]);
        fill_result r = fill(p, ports);
        _exit(write(pipe_fds[1], &r, sizeof r) == ssize_t(sizeof r) ? 0 : 3);
    }
    close(pipe_fds[1]);
    fill_result r;
    const bool got = read(pipe_fds[0], &r, sizeof r) == ssize_t(sizeof r);
    close(pipe_fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!got) die("a fill's child failed", EIO);
    return r;
}

void add(fill_result& sum, const fill_result& one) {
    for (int b = 0; b < kBands; ++b) {
        sum.ns[b] += one.ns[b];
        sum.count[b] += one.count[b];
    }
    sum.opened = one.opened;  // every fill should open the same: the last one is printed
    sum.last_errno = one.last_errno;
}

double mean_us(const fill_result& r, int b) {
    return r.count[b] ? r.ns[b] / double(r.count[b]) / 1000.0 : 0;
}

}  // namespace

int main(int argc, char** argv) {
    int ports = 8000, rounds = 1;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--ports" && i + 1 < argc) {
            ports = std::atoi(argv[++i]);
        } else if (a == "--rounds" && i + 1 < argc) {
            rounds = std::atoi(argv[++i]);
        } else {
            std::fprintf(stderr, "usage: tcp_fill_bench [--ports N] [--rounds R]\n");
            return 2;
        }
    }
    if (ports < 100 || ports > 20000 || rounds < 1) {
        std::fprintf(stderr, "tcp_fill_bench: --ports 100..20000, --rounds >= 1\n");
        return 2;
    }
    constexpr int kPaths = int(path::count);
    fill_result sums[kPaths];
    for (int r = 0; r < rounds; ++r) {
        for (int i = 0; i < kPaths; ++i) add(sums[i], fill_in_child(path(i), ports));
        for (int i = kPaths - 1; i >= 0; --i) add(sums[i], fill_in_child(path(i), ports));
    }
    std::printf(
        "TCP fill of %d ports toward 127.1.1.1:8080, %d x 2 fills per path; CPU us per "
        "connect (socket..connect) and x its own 0-10%% band\n",
        ports, rounds);
    std::printf("%-28s", "path");
    for (const char* b : kBandNames) std::printf(" %16s", b);
    std::printf("  then\n");
    for (int i = 0; i < kPaths; ++i) {
        std::printf("%-28s", kPathNames[i]);
        const double base = mean_us(sums[i], 0);
        for (int b = 0; b < kBands; ++b) {
            char cell[32];
            std::snprintf(cell, sizeof cell, "%.1f (%.2fx)", mean_us(sums[i], b),
                          base > 0 ? mean_us(sums[i], b) / base : 0);
            std::printf(" %16s", cell);
        }
        std::printf("  %ld open, %s\n", sums[i].opened,
                    sums[i].last_errno ? strerrorname_np(sums[i].last_errno) : "no error");
    }
    // The floor: plain connect() against the bare technique, band by band, same run.
    std::printf("%-28s", "plain / bare technique");
    for (int b = 0; b < kBands; ++b)
        std::printf(" %15.2fx", mean_us(sums[0], b) / mean_us(sums[int(path::bare)], b));
    std::printf("\n");
    return 0;
}
