// udp_fill_bench.cpp - UDP at scale: the cost of one connect by how full the 4-tuples are, for
// connectx and for the bare technique filled the same way, in one run.
//
//   udp_fill_bench [--shapes PxD,...] [--no-source] [--busy N] [--churn N] [--memory N]
//
// Each fill runs in a private network namespace whose ip_local_port_range has P ports: connection
// k goes to destination k mod D (round-robin, D addresses in 127.1/16), until P x D are open; then
// one more call must fail with EAGAIN. connectx gets the source address 127.0.0.1 (or none, with
// --no-source) and searches; the bare technique is told the port (SO_REUSEADDR + bind(ip, port) +
// connect, the port known), so it is the kernel's own cost of the same flows. Its ports fill
// evenly, as connectx's do (each destination's walk starts at a random port): the j-th flow toward
// destination d takes port (j + d) mod P. (Until 2026-12-04 it took port j, filling the range one
// port after another; its binds then walked shorter chains, with better locality, than connectx's
// in the P < D shapes.) A call's cost is socket() through connect, wall clock. The fills alternate
// A B B A per shape.
// --busy N: N connected UDP sockets held first by other processes in another namespace (the
// kernel's UDP hash is shared by all namespaces). --churn N: after filling 95 % of 4096 x 4,
// N times close a random flow and open one toward a random destination; EAGAIN while the
// destination had a free port is counted as spurious.
// --memory N: one flow toward each of N destinations (4 ports), the process's resident memory
// before (after 64 destinations, which make the per-namespace state) and after, against the goal
// of 4 MiB + 1 KiB per destination; at most 15,000 flows are held (the open-file limit), the
// oldest closed behind the library's back.
// Prints, per shape and band (0-10, 10-50, 50-90, 99-100 %), both costs in microseconds and each
// one's growth against its own 10-50 % band of the 4096 x 4 fill; the goal is connectx's growth
// at most 2x the bare technique's.
#include <arpa/inet.h>
#include <connectx/connectx.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

namespace {

constexpr int kBands = 4;
const char* kBandNames[kBands] = {"0-10%", "10-50%", "50-90%", "99-100%"};

int band_of(double frac) {
    if (frac <= 0.10) return 0;
    if (frac <= 0.50) return 1;
    if (frac <= 0.90) return 2;
    if (frac > 0.99) return 3;
    return -1;
}

struct fill_result {
    double sum_us[kBands] = {};
    long count[kBands] = {};
    long opened = 0;
    int last_errno = 0;
    long spurious_eagain = 0, churn_calls = 0;
    double churn_us = 0;
    double band_us(int b) const { return count[b] ? sum_us[b] / double(count[b]) : 0; }
};

double now_us() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) * 1e6 + double(ts.tv_nsec) / 1e3;
}

void die(const char* what) {
    std::fprintf(stderr, "udp_fill_bench: %s: %s\n", what, strerror(errno));
    _exit(2);
}

void write_file(const char* path, const std::string& text) {
    FILE* f = std::fopen(path, "w");
    if (!f || std::fputs(text.c_str(), f) < 0 || std::fclose(f) != 0) die(path);
}

// A private namespace with lo up and P ports from 20000.
void enter_namespace(int ports) {
    if (unshare(CLONE_NEWNET) < 0) die("unshare(CLONE_NEWNET) (needs root)");
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq ifr{};
    std::strcpy(ifr.ifr_name, "lo");
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) die("SIOCGIFFLAGS");
    ifr.ifr_flags = short(ifr.ifr_flags | IFF_UP);
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) die("SIOCSIFFLAGS");
    close(s);
    write_file("/proc/sys/net/ipv4/ip_local_port_range",
               std::to_string(20000) + " " + std::to_string(20000 + ports - 1));
}

sockaddr_in v4(uint32_t host_ip, uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(host_ip);
    a.sin_port = htons(port);
    return a;
}

sockaddr_in dst_of(int d) {
    return v4(0x7f010000u + uint32_t(d) + 1, 53);  // 127.1.0.1 ...
}

// One call of either technique toward destination d; for the bare one `port` is known.
int open_one(bool bare, bool with_source, int d, uint16_t port) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    sockaddr_in dst = dst_of(d);
    int rc;
    if (bare) {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in src = v4(0x7f000001u, port);
        rc = bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src);
        if (rc == 0) rc = connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst);
    } else {
        sockaddr_in src = v4(0x7f000001u, 0);
        rc = connectx(fd, with_source ? reinterpret_cast<sockaddr*>(&src) : nullptr,
                      with_source ? sizeof src : 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst,
                      nullptr);
    }
    if (rc < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

struct shape {
    int ports, dests;
};

// The fill (and the churn) in a child in its own namespace; the result comes back by a pipe.
fill_result run_fill(shape sh, bool bare, bool with_source, long churn) {
    int p[2];
    if (pipe(p) < 0) die("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        enter_namespace(sh.ports);
        fill_result r;
        const long total = long(sh.ports) * sh.dests;
        const long target = churn ? total * 95 / 100 : total;
        std::vector<int> fds;
        std::vector<int> held_per_dst(size_t(sh.dests), 0);
        std::vector<std::vector<uint16_t>> free_ports(size_t(sh.dests));
        fds.reserve(size_t(total) + 1);
        for (long k = 0; k < target; ++k) {
            const int d = int(k % sh.dests);
            double t0 = now_us();
            const long j = k / sh.dests;  // the j-th flow toward d
            int fd = open_one(bare, with_source, d, uint16_t(20000 + (j + d) % sh.ports));
            double t1 = now_us();
            if (fd < 0) {
                r.last_errno = errno;
                break;
            }
            fds.push_back(fd);
            ++held_per_dst[size_t(d)];
            int b = band_of(double(k + 1) / double(total));
            if (b >= 0) {
                r.sum_us[b] += t1 - t0;
                ++r.count[b];
            }
        }
        r.opened = long(fds.size());
        if (!churn && r.opened == total) {
            int fd = open_one(bare, with_source, 0, 20000);
            r.last_errno = fd < 0 ? errno : 0;
        }
        // Churn: close a random flow, open one toward a random destination.
        std::mt19937 rng(12345);
        for (long i = 0; churn && i < churn; ++i) {
            size_t victim = rng() % fds.size();
            sockaddr_in peer{};
            socklen_t len = sizeof peer;
            getpeername(fds[victim], reinterpret_cast<sockaddr*>(&peer), &len);
            sockaddr_in self{};
            len = sizeof self;
            getsockname(fds[victim], reinterpret_cast<sockaddr*>(&self), &len);
            int vd = int(ntohl(peer.sin_addr.s_addr) - 0x7f010001u);
            close(fds[victim]);
            --held_per_dst[size_t(vd)];
            free_ports[size_t(vd)].push_back(ntohs(self.sin_port));
            const int d = int(rng() % uint32_t(sh.dests));
            uint16_t port = 0;
            if (bare) {  // the bare technique knows the free ports
                if (free_ports[size_t(d)].empty()) {
                    fds.erase(fds.begin() + long(victim));
                    continue;
                }
                port = free_ports[size_t(d)].back();
            }
            double t0 = now_us();
            int fd = open_one(bare, with_source, d, port);
            double t1 = now_us();
            if (fd < 0) {
                if (errno == EAGAIN && held_per_dst[size_t(d)] < sh.ports) ++r.spurious_eagain;
                fds.erase(fds.begin() + long(victim));
                continue;
            }
            if (bare) free_ports[size_t(d)].pop_back();
            fds[victim] = fd;
            ++held_per_dst[size_t(d)];
            r.churn_us += t1 - t0;
            ++r.churn_calls;
        }
        if (write(p[1], &r, sizeof r) != ssize_t(sizeof r)) _exit(3);
        _exit(0);
    }
    close(p[1]);
    fill_result r;
    if (read(p[0], &r, sizeof r) != ssize_t(sizeof r)) {
        std::fprintf(stderr, "udp_fill_bench: a fill's child failed\n");
        std::exit(1);
    }
    close(p[0]);
    int status;
    waitpid(pid, &status, 0);
    return r;
}

// The process's resident memory in KiB (VmRSS).
long rss_kib() {
    FILE* f = std::fopen("/proc/self/status", "r");
    if (!f) die("/proc/self/status");
    char line[256];
    long kib = -1;
    while (std::fgets(line, sizeof line, f))
        if (std::sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
    std::fclose(f);
    return kib;
}

// --memory: see the top of the file. Runs in a child in its own namespace; 0 when the goal is met.
int run_memory(long dests, bool with_source) {
    pid_t pid = fork();
    if (pid == 0) {
        enter_namespace(4);
        constexpr size_t kHeld = 15000;
        constexpr long kWarm = 64;
        std::vector<int> ring(kHeld, -1);
        auto one = [&](long d) {
            int& slot = ring[size_t(d) % kHeld];
            if (slot >= 0) close(slot);
            slot = open_one(false, with_source, int(d), 0);
            if (slot < 0) die("connectx");
        };
        for (long d = 0; d < kWarm; ++d) one(d);
        const long before = rss_kib();
        for (long d = kWarm; d < dests; ++d) one(d);
        const long after = rss_kib();
        const long grown = after - before;
        const long allowed = 4096 + (dests - kWarm);
        std::printf(
            "memory: %ld destinations, one flow each: resident %ld KiB -> %ld KiB, "
            "+%ld KiB (%.0f bytes a destination); goal at most +%ld KiB: %s\n",
            dests, before, after, grown, double(grown) * 1024.0 / double(dests - kWarm), allowed,
            grown <= allowed ? "met" : "NOT met");
        std::fflush(stdout);
        _exit(grown <= allowed ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

fill_result average(const fill_result& a, const fill_result& b) {
    fill_result r = a;
    for (int i = 0; i < kBands; ++i) {
        r.sum_us[i] += b.sum_us[i];
        r.count[i] += b.count[i];
    }
    r.churn_us += b.churn_us;
    r.churn_calls += b.churn_calls;
    r.spurious_eagain += b.spurious_eagain;
    return r;
}

// Holders for --busy: `n` connected UDP sockets in another namespace, over processes of at most
// 15,000 (the open-file limit is 20,000 per process), each on its own source address so that
// plain connect()'s one port per socket is no limit. Returns their pids.
std::vector<pid_t> start_holders(long n) {
    std::vector<pid_t> pids;
    int ready[2];
    if (pipe(ready) < 0) die("pipe");
    pid_t ns_owner = fork();
    if (ns_owner == 0) {
        // Its own process group, with the holders: stop_holders kills the group.
        setpgid(0, 0);
        enter_namespace(40000);  // 20000-59999: 15,000 ports a source address is plenty
        const long per = 15000;
        std::vector<pid_t> kids;
        for (long i = 0, done = 0; done < n; ++i, done += per) {
            pid_t k = fork();
            if (k == 0) {
                // Ends with the namespace owner, whatever ends it.
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() == 1) _exit(3);
                long mine = std::min(per, n - done);
                for (long j = 0; j < mine; ++j) {
                    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                    sockaddr_in src = v4(0x7f000000u + uint32_t((i + 2) << 8) + 1, 0);
                    sockaddr_in dst = v4(0x7f010001u + uint32_t(j % 4096), 53);
                    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) < 0 ||
                        connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) < 0)
                        die("holder socket");
                }
                char c = 1;
                if (write(ready[1], &c, 1) != 1) _exit(3);
                pause();  // until the bench kills it
                _exit(0);
            }
            kids.push_back(k);
        }
        for (pid_t k : kids) waitpid(k, nullptr, 0);
        _exit(0);
    }
    setpgid(ns_owner, ns_owner);  // as the child does: whichever runs first
    pids.push_back(ns_owner);
    for (long done = 0; done < n; done += 15000) {
        char c;
        if (read(ready[0], &c, 1) != 1) die("holders");
    }
    return pids;
}

void stop_holders(const std::vector<pid_t>& pids) {
    // The namespace owner waits for its children; killing its process group ends them all.
    for (pid_t p : pids) {
        kill(-p, SIGKILL);
        kill(p, SIGKILL);
        waitpid(p, nullptr, 0);
    }
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<shape> shapes = {{4096, 4}, {256, 64}, {240, 68}, {16, 1024}, {4, 4096}};
    bool with_source = true;
    long busy = 0, churn = 0, memory = 0;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--no-source") {
            with_source = false;
        } else if (a == "--busy" && i + 1 < argc) {
            busy = std::atol(argv[++i]);
        } else if (a == "--churn" && i + 1 < argc) {
            churn = std::atol(argv[++i]);
        } else if (a == "--memory" && i + 1 < argc) {
            memory = std::atol(argv[++i]);
            if (memory <= 64 || memory > 65000) {
                std::fprintf(stderr, "udp_fill_bench: --memory takes 65..65000 destinations\n");
                return 2;
            }
        } else if (a == "--shapes" && i + 1 < argc) {
            shapes.clear();
            std::string list = argv[++i];
            for (size_t at = 0; at < list.size();) {
                size_t comma = list.find(',', at);
                std::string one = list.substr(at, comma - at);
                shape s{};
                if (std::sscanf(one.c_str(), "%dx%d", &s.ports, &s.dests) != 2) {
                    std::fprintf(stderr, "udp_fill_bench: bad shape '%s' (PORTSxDESTS)\n",
                                 one.c_str());
                    return 2;
                }
                shapes.push_back(s);
                at = comma == std::string::npos ? list.size() : comma + 1;
            }
        } else {
            std::fprintf(stderr,
                         "usage: udp_fill_bench [--shapes PxD,...] [--no-source] [--busy N] "
                         "[--churn N] [--memory N]\n");
            return 2;
        }
    }
    if (memory) return run_memory(memory, with_source);
    setpgid(0, 0);
    std::vector<pid_t> holders;
    if (busy) holders = start_holders(busy);
    std::printf(
        "UDP round-robin fills, source %s%s; microseconds per connect (socket..connect)\n",
        with_source ? "127.0.0.1" : "from the route",
        busy ? (", " + std::to_string(busy) + " UDP sockets held in another namespace").c_str()
             : "");
    if (churn) {
        shape sh{4096, 4};
        fill_result cx = average(run_fill(sh, false, with_source, churn),
                                 run_fill(sh, false, with_source, churn));
        fill_result bare =
            average(run_fill(sh, true, with_source, churn), run_fill(sh, true, with_source, churn));
        double cx_us = cx.churn_us / double(std::max(1L, cx.churn_calls));
        double bare_us = bare.churn_us / double(std::max(1L, bare.churn_calls));
        double cx_ref = cx.band_us(1), bare_ref = bare.band_us(1);
        std::printf(
            "churn at 95%% of 4096x4, %ld calls x2: connectx %.1f us (%.2fx its 10-50%% "
            "band), bare %.1f us (%.2fx), growth ratio %.2f; spurious EAGAIN %ld\n",
            churn, cx_us, cx_us / cx_ref, bare_us, bare_us / bare_ref,
            (cx_us / cx_ref) / (bare_us / bare_ref), cx.spurious_eagain);
        stop_holders(holders);
        return 0;
    }
    std::printf("%-10s %-8s %10s %10s %10s %10s %8s\n", "shape", "band", "connectx", "bare",
                "cx growth", "bare grow", "ratio");
    double cx_ref = 0, bare_ref = 0;
    for (const shape& sh : shapes) {
        fill_result a1 = run_fill(sh, false, with_source, 0);
        fill_result b1 = run_fill(sh, true, with_source, 0);
        fill_result b2 = run_fill(sh, true, with_source, 0);
        fill_result a2 = run_fill(sh, false, with_source, 0);
        fill_result cx = average(a1, a2), bare = average(b1, b2);
        if (cx_ref == 0) {
            cx_ref = cx.band_us(1);
            bare_ref = bare.band_us(1);
        }
        char name[32];
        std::snprintf(name, sizeof name, "%dx%d", sh.ports, sh.dests);
        for (int b = 0; b < kBands; ++b) {
            double g_cx = cx.band_us(b) / cx_ref, g_bare = bare.band_us(b) / bare_ref;
            std::printf("%-10s %-8s %10.1f %10.1f %10.2f %10.2f %8.2f\n", name, kBandNames[b],
                        cx.band_us(b), bare.band_us(b), g_cx, g_bare, g_cx / g_bare);
        }
        const long total = long(sh.ports) * sh.dests;
        std::printf("%-10s opened %ld and %ld of %ld, then %s\n", name, a1.opened, a2.opened, total,
                    a1.last_errno ? strerrorname_np(a1.last_errno) : "no error");
    }
    stop_holders(holders);
    return 0;
}
