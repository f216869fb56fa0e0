// pool_bench.cpp - what a source pool costs per connectx(), paired in one run (paired_ratio.hpp)
// against connectx() from one source IP, in a private network namespace on loopback. Each
// iteration is socket + connectx + close. The other side (the argument):
//   0  TCP, a 4-address pool, every address free: the pool layer's own cost
//   1  UDP, the same
//   2  UDP, a 4-address pool of which 3 are full toward the destination (a 64-port range per
//      call): the cost of moving on, against the one free address named directly
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include <connectx/connectx.h>
#include <connectx/connectx.hpp>

#include "bench_env.hpp"
#include "paired_ratio.hpp"

namespace {

constexpr uint16_t kLo = 40000, kHi = 40063;  // the per-call range of argument 2

cx::address g_tcp_dst, g_udp_dst, g_full_dst;
std::vector<sockaddr_storage> g_pool;

void close_now(int fd) {
    linger l{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd);
}

connectx_opts options(bool pool, bool range) {
    connectx_opts o{};
    o.size = sizeof o;
    if (pool) {
        o.pool = g_pool.data();
        o.pool_count = uint32_t(g_pool.size());
    }
    if (range) {
        o.port_lo = kLo;
        o.port_hi = kHi;
    }
    return o;
}

// socket + connectx (from `src`, or from the pool when src is null) + close.
bool one(int type, const cx::address& dst, const sockaddr_storage* src, bool range) {
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    connectx_opts o = options(src == nullptr, range);
    bool ok = connectx(fd, reinterpret_cast<const sockaddr*>(src), src ? sizeof(sockaddr_in) : 0,
                       dst.sa(), dst.size(), &o) == 0;
    int e = errno;
    close_now(fd);
    errno = e;
    return ok;
}

void BM_PoolPairedRatio(benchmark::State& state) {
    const int arg = int(state.range(0));
    const int type = arg == 0 ? SOCK_STREAM : SOCK_DGRAM;
    const cx::address& dst = arg == 0 ? g_tcp_dst : arg == 1 ? g_udp_dst : g_full_dst;
    const bool range = arg == 2;
    // The single source: the pool's first address, or (arg 2) its one free address.
    const sockaddr_storage* src = &g_pool[arg == 2 ? 3 : 0];
    run_paired_ratio(
        state, [&] { return one(type, dst, src, range); },
        [&] { return one(type, dst, nullptr, range); });
}
BENCHMARK(BM_PoolPairedRatio)->Arg(0)->Arg(1)->Arg(2)->MinTime(5.0);

// Fills the range toward g_full_dst from the pool's first three addresses; the sockets stay open.
bool fill_three(std::vector<int>& held) {
    for (size_t s = 0; s < 3; ++s)
        for (int p = kLo; p <= kHi; ++p) {
            int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            connectx_opts o = options(false, true);
            if (connectx(fd, reinterpret_cast<const sockaddr*>(&g_pool[s]), sizeof(sockaddr_in),
                         g_full_dst.sa(), g_full_dst.size(), &o) != 0)
                return false;
            held.push_back(fd);
        }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    if (!cxbench::enter_netns()) return 1;
    g_tcp_dst = *cx::address::parse("127.0.1.1:8080");
    g_udp_dst = *cx::address::parse("127.0.1.2:53");
    g_full_dst = *cx::address::parse("127.0.1.3:53");
    for (uint32_t i = 0; i < 4; ++i) {  // 127.0.0.1 .. 127.0.0.4, local through 127/8 on lo
        sockaddr_storage ss{};
        auto a = cx::address::v4(0x7f000001u + i, 0);
        std::memcpy(&ss, a.sa(), a.size());
        g_pool.push_back(ss);
    }
    if (!cxbench::start_tcp_sink(g_tcp_dst)) return 1;
    std::vector<int> held;
    if (!fill_three(held)) {
        std::perror("filling three sources");
        return 1;
    }
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
