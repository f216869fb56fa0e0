// guard_bench.cpp - what the BPF guard adds to a UDP connect(): the same connect() with the
// guard detached (the plain-kernel baseline) and attached, same run. The process moves into a
// cgroup made for the run and into a private network namespace; both are removed at exit.
//
// Each iteration is connect(dst) + connect(AF_UNSPEC) on one socket, so only connect() (where
// the guard's program runs) and the cheap disconnect are timed: no socket(), bind() or close().
//   explicit: the socket is bound to 127.0.0.1:P first: the guard looks the 4-tuple up.
//   autobind: the socket is unbound: the guard can only count it as skipped.
// `flows` other sockets share 127.0.0.1:P, each connected to a different destination port: the
// connectx use case, where one local port serves many destinations. The guard's lookup of a free
// 4-tuple walks every socket on that local address and port, so its cost grows with `flows`.
#include <benchmark/benchmark.h>
#include <connectx/guard.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <connectx/connectx.hpp>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench_env.hpp"
#include "tools/common/cgroup.hpp"

namespace {

constexpr uint16_t kLocalPort = 30000;  // explicit source port shared by every flow
constexpr uint16_t kDstPort = 9;        // the benchmarked destination port
constexpr uint16_t kFlowDstBase = 20000;

std::string g_cgroup;  // the cgroup made for this run
cx::address g_src, g_dst;

int udp_socket(bool bound) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || !bound) return fd;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, g_src.sa(), g_src.size()) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

// Other connected sockets on the same local address and port, one per destination port.
class flows {
public:
    explicit flows(int n) {
        for (int i = 0; i < n; ++i) {
            int fd = udp_socket(true);
            cx::address d = g_dst;
            d.set_port(static_cast<uint16_t>(kFlowDstBase + i));
            if (fd < 0 || connect(fd, d.sa(), d.size()) < 0) {
                if (fd >= 0) close(fd);
                ok_ = false;
                return;
            }
            fds_.push_back(fd);
        }
    }
    ~flows() {
        for (int fd : fds_) close(fd);
    }
    bool ok() const { return ok_; }

private:
    std::vector<int> fds_;
    bool ok_ = true;
};

uint64_t guard_counter(bool skipped) {
    connectx_guard_info s{};
    s.size = sizeof s;
    if (connectx_guard_status(g_cgroup.c_str(), nullptr, &s) < 0) return 0;
    return skipped ? s.skipped : s.checked;
}

// args: guard (0/1), flows sharing the local port.
void run(benchmark::State& state, bool bound) {
    bool guarded = state.range(0) != 0;
    flows others(static_cast<int>(state.range(1)));
    if (!others.ok()) return state.SkipWithError("could not open the other flows");
    connectx_guard* g = nullptr;
    if (guarded && connectx_guard_attach(g_cgroup.c_str(), nullptr, &g) != 1)
        return state.SkipWithError("connectx_guard_attach failed");
    int fd = udp_socket(bound);
    if (fd < 0) {
        connectx_guard_close(g);
        return state.SkipWithError("socket");
    }
    sockaddr unspec{};
    unspec.sa_family = AF_UNSPEC;
    uint64_t before = guarded ? guard_counter(!bound) : 0;
    for (auto _ : state) {
        if (connect(fd, g_dst.sa(), g_dst.size()) < 0) {
            state.SkipWithError(strerror(errno));
            break;
        }
        connect(fd, &unspec, sizeof unspec);
    }
    // Proof the program ran in the timed loop: one check (or skip) per iteration.
    if (guarded)
        state.counters["guard_runs_per_iter"] =
            static_cast<double>(guard_counter(!bound) - before) /
            static_cast<double>(state.iterations());
    close(fd);
    connectx_guard_close(g);  // unpinned: detaches here
}

void BM_UdpConnectExplicit(benchmark::State& state) {
    run(state, true);
}
void BM_UdpConnectAutobind(benchmark::State& state) {
    run(state, false);
}

BENCHMARK(BM_UdpConnectExplicit)
    ->ArgNames({"guard", "flows"})
    ->ArgsProduct({{0, 1}, {0, 64, 512, 4096}})
    ->MinTime(1.0);
BENCHMARK(BM_UdpConnectAutobind)
    ->ArgNames({"guard", "flows"})
    ->ArgsProduct({{0, 1}, {0}})
    ->MinTime(1.0);

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    std::string mount = cxcommon::cgroup2_mount();
    std::string home = cxcommon::own_cgroup_dir(mount);
    if (home.empty()) {
        std::fprintf(stderr, "no cgroup v2 hierarchy\n");
        return 1;
    }
    g_cgroup = mount + "/connectx-guard-bench." + std::to_string(getpid());
    int e = mkdir(g_cgroup.c_str(), 0755) < 0 ? errno : cxcommon::join_cgroup(g_cgroup);
    if (e != 0) {
        std::fprintf(stderr, "%s: %s\n", g_cgroup.c_str(), std::strerror(e));
        rmdir(g_cgroup.c_str());
        return 1;
    }
    int rc = 1;
    if (unshare(CLONE_NEWNET) < 0) {
        std::perror("unshare(CLONE_NEWNET) (run as root)");
    } else if (cxbench::link_up("lo") != 0) {
        std::fprintf(stderr, "namespace setup failed\n");
    } else {
        g_src = cx::address::v4(0x7f000001, kLocalPort);  // 127.0.0.1
        g_dst = cx::address::v4(0x7f000101, kDstPort);    // 127.0.1.1
        benchmark::RunSpecifiedBenchmarks();
        rc = 0;
    }
    benchmark::Shutdown();
    // Leave the cgroup (the hierarchy's root takes any process) and remove it.
    cxcommon::join_cgroup(home);
    if (rmdir(g_cgroup.c_str()) < 0) std::perror(g_cgroup.c_str());
    return rc;
}
