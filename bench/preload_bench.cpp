// preload_bench.cpp - the drop-in's cost: a program's own socket()/bind()/connect() loop run
// under libconnectx-preload.so against the same connections made by calling connectx()
// directly, paired in one run. Runs in a private network namespace of its own (root): lo up,
// ip_local_port_range 30000-39999.
//
// The two sides live in two worker processes of this binary, because the drop-in is loaded
// (LD_PRELOAD) for a whole process: "direct" calls connectx(), "drop-in" calls the socket API
// with libconnectx-preload.so preloaded. The benchmark thread has them run blocks of 16
// connections in the order A B B A (as bench/paired_ratio.hpp does in one process); each worker
// times its blocks with its own thread CPU clock, so drift lands on both sides alike.
//
//   BM_PreloadPairedRatio/0  UDP  connect(dst)                vs connectx(NULL, dst)
//   BM_PreloadPairedRatio/1  UDP  bind(ip, 0) + connect(dst)  vs connectx(ip, dst)
//   BM_PreloadPairedRatio/2  TCP  bind(ip, 0) + connect(dst)  vs connectx(ip, dst)
// Counters: direct_ns and dropin_ns per connection (socket to close), ratio = dropin / direct
// over the whole run, ratio_median of the per-pair ratios.
#include <benchmark/benchmark.h>
#include <connectx/connectx.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "bench_env.hpp"
#include "thread_clock.hpp"

namespace {

constexpr int kBlock = 16;
constexpr uint16_t kTcpPort = 7300, kUdpPort = 5353;
constexpr int kCmdFd = 3, kResultFd = 4;  // a worker's pipes, at fixed numbers across exec

sockaddr_in addr(uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

// One connection of `mode` (the benchmark argument), direct or through the socket API.
bool one_connection(int mode, bool direct) {
    bool tcp = mode == 2;
    sockaddr_in dst = addr(tcp ? kTcpPort : kUdpPort), src = addr(0);
    auto* d = reinterpret_cast<sockaddr*>(&dst);
    auto* s = reinterpret_cast<sockaddr*>(&src);
    int fd = socket(AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
    bool ok;
    if (direct)
        ok = connectx(fd, mode == 0 ? nullptr : s, mode == 0 ? 0 : sizeof src, d, sizeof dst,
                      nullptr) == 0;
    else
        ok = (mode == 0 || bind(fd, s, sizeof src) == 0) && connect(fd, d, sizeof dst) == 0;
    int e = errno;
    if (tcp) {
        linger l{1, 0};  // no TIME_WAIT piling up
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    close(fd);
    errno = e;
    return ok;
}

// The worker: for each command byte, one block; answers the block's CPU ns (0: failed).
int worker_main(int mode, bool direct) {
    char cmd;
    while (read(kCmdFd, &cmd, 1) == 1) {
        uint64_t t0 = thread_cpu_ns(), ns;
        bool ok = true;
        for (int i = 0; i < kBlock && ok; ++i) ok = one_connection(mode, direct);
        ns = ok ? std::max<uint64_t>(thread_cpu_ns() - t0, 1) : 0;
        if (!ok) std::fprintf(stderr, "preload_bench worker: %s\n", strerror(errno));
        if (write(kResultFd, &ns, sizeof ns) != sizeof ns) return 1;
    }
    return 0;
}

struct worker {
    pid_t pid = -1;
    int cmd = -1, result = -1;

    worker(int mode, bool direct) {
        int c[2], r[2];
        if (pipe2(c, O_CLOEXEC) != 0 || pipe2(r, O_CLOEXEC) != 0) return;
        pid = fork();
        if (pid == 0) {
            // Only our two ends survive exec (the write end of our own command pipe must not,
            // or the worker never sees end-of-file): copies above the fixed numbers first, as
            // dup2 onto a descriptor's own number would keep its close-on-exec flag.
            int in = fcntl(c[0], F_DUPFD, 10), out = fcntl(r[1], F_DUPFD, 10);
            dup2(in, kCmdFd);
            dup2(out, kResultFd);
            close(in);
            close(out);
            if (!direct) setenv("LD_PRELOAD", CONNECTX_PRELOAD_LIB, 1);
            std::string m = std::to_string(mode);
            execl("/proc/self/exe", "preload_bench", "--worker", m.c_str(),
                  direct ? "direct" : "drop-in", nullptr);
            _exit(127);
        }
        close(c[0]);
        close(r[1]);
        cmd = c[1];
        result = r[0];
    }
    ~worker() {
        close(cmd);
        close(result);
        if (pid > 0) waitpid(pid, nullptr, 0);
    }
    // One block; its CPU ns, 0 if it failed.
    uint64_t block() {
        uint64_t ns = 0;
        if (write(cmd, "b", 1) != 1 || read(result, &ns, sizeof ns) != sizeof ns) return 0;
        return ns;
    }
};

void BM_PreloadPairedRatio(benchmark::State& state) {
    int mode = int(state.range(0));
    worker direct(mode, true), dropin(mode, false);
    uint64_t direct_sum = 0, dropin_sum = 0;
    std::vector<double> pairs;
    for (auto _ : state) {
        uint64_t a1 = direct.block(), b1 = dropin.block(), b2 = dropin.block(), a2 = direct.block();
        if (!a1 || !b1 || !b2 || !a2) {
            state.SkipWithError("a worker's connection failed (its stderr says why)");
            return;
        }
        direct_sum += a1 + a2;
        dropin_sum += b1 + b2;
        pairs.push_back(double(b1 + b2) / double(a1 + a2));
    }
    std::sort(pairs.begin(), pairs.end());
    const double calls = double(state.iterations()) * 2 * kBlock;
    state.counters["direct_ns"] = double(direct_sum) / calls;
    state.counters["dropin_ns"] = double(dropin_sum) / calls;
    state.counters["ratio"] = double(dropin_sum) / double(direct_sum);
    state.counters["ratio_median"] = pairs[pairs.size() / 2];
}
BENCHMARK(BM_PreloadPairedRatio)->Arg(0)->Arg(1)->Arg(2)->MinTime(3.0);

// Accepts and closes the TCP side's connections.
void accept_loop(int listener) {
    for (;;) {
        int c = accept(listener, nullptr, nullptr);
        if (c < 0) return;
        close(c);
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 4 && std::strcmp(argv[1], "--worker") == 0)
        return worker_main(std::atoi(argv[2]), std::strcmp(argv[3], "direct") == 0);
    // Everything below changes kernel state: only inside a namespace of our own.
    if (unshare(CLONE_NEWNET) != 0) {
        std::perror("preload_bench: unshare(CLONE_NEWNET) (run as root)");
        return 1;
    }
    if (cxbench::link_up("lo") != 0 ||
        cxbench::write_sysctl("net/ipv4/ip_local_port_range", "30000 39999") != 0) {
        std::fprintf(stderr, "preload_bench: namespace setup failed\n");
        return 1;
    }
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in at = addr(kTcpPort);
    if (bind(listener, reinterpret_cast<sockaddr*>(&at), sizeof at) != 0 ||
        listen(listener, 4096) != 0) {
        std::perror("preload_bench: TCP listener");
        return 1;
    }
    std::thread(accept_loop, listener).detach();
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
