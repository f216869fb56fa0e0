// tcp_bench.cpp - TCP on loopback, in a private network namespace: plain connect() against
// connectx() with a source IP (IP_BIND_ADDRESS_NO_PORT + bind + connect) and with the destination
// only, and connectx() with a source IP against its bare technique, same run. The cost as the
// range fills: tcp_fill_bench. Each
// iteration is socket + connect + close (with SO_LINGER 0, so no TIME_WAIT piles up); a thread
// accepts and closes on the server side.
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <thread>

#include <connectx/connectx.h>
#include <connectx/connectx.hpp>

#include "bench_env.hpp"
#include "paired_ratio.hpp"

namespace {

cx::address g_dst;
cx::address g_src;

void close_now(int fd) {
    linger l{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd);
}

// What one connection does between socket() and close(); false (errno set) if it failed.
bool plain_cycle(int fd) {
    return connect(fd, g_dst.sa(), g_dst.size()) == 0;
}

bool connectx_cycle(int fd) {
    return connectx(fd, g_src.sa(), g_src.size(), g_dst.sa(), g_dst.size(), nullptr) == 0;
}

bool technique_cycle(int fd) {
    int one = 1;
    return setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one) == 0 &&
           bind(fd, g_src.sa(), g_src.size()) == 0 && plain_cycle(fd);
}

// The one query connectx makes before binding a TCP socket to a source IP: TCP_IS_MPTCP (43).
bool query_cycle(int fd) {
    int mptcp;
    socklen_t len = sizeof mptcp;
    return getsockopt(fd, IPPROTO_TCP, 43, &mptcp, &len) == 0 && plain_cycle(fd);
}

bool connectx_no_source_cycle(int fd) {
    return connectx(fd, nullptr, 0, g_dst.sa(), g_dst.size(), nullptr) == 0;
}

// socket(), the cycle, close(); false, with the cycle's errno, if the cycle failed.
bool one_connection(bool (*cycle)(int)) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok = cycle(fd);
    int e = errno;
    close_now(fd);
    errno = e;
    return ok;
}

// One connection per iteration, on its own: absolute times (ratios: BM_TcpPairedRatio).
void run_cycles(benchmark::State& state, bool (*cycle)(int)) {
    for (auto _ : state) {
        if (!one_connection(cycle)) {
            state.SkipWithError(strerror(errno));
            return;
        }
    }
}

void BM_TcpPlainConnect(benchmark::State& state) {
    run_cycles(state, plain_cycle);
}
BENCHMARK(BM_TcpPlainConnect)->MinTime(2.0);

// Plain connect() after the query connectx's validation makes with a source IP.
void BM_TcpPlainConnectAfterItsQuery(benchmark::State& state) {
    run_cycles(state, query_cycle);
}
BENCHMARK(BM_TcpPlainConnectAfterItsQuery)->MinTime(2.0);

void BM_TcpConnectxSourceIp(benchmark::State& state) {
    run_cycles(state, connectx_cycle);
}
BENCHMARK(BM_TcpConnectxSourceIp)->MinTime(2.0);

void BM_TcpConnectxNoSource(benchmark::State& state) {
    run_cycles(state, connectx_no_source_cycle);
}
BENCHMARK(BM_TcpConnectxNoSource)->MinTime(2.0);

// The ratio itself, paired (paired_ratio.hpp). The other side (the argument):
//   0  connectx() with a source IP: the figure the goal is about
//   1  the technique alone: IP_BIND_ADDRESS_NO_PORT + bind + connect, no validation
//   2  plain connect() after validation's query (TCP_IS_MPTCP)
//   3  connectx() with the destination only (its technique is plain connect() itself)
// 1 and 2 show where connectx's cost is.
void BM_TcpPairedRatio(benchmark::State& state) {
    static bool (*const others[])(int) = {connectx_cycle, technique_cycle, query_cycle,
                                          connectx_no_source_cycle};
    bool (*const other)(int) = others[state.range(0)];
    run_paired_ratio(
        state, [] { return one_connection(plain_cycle); },
        [other] { return one_connection(other); });
}
BENCHMARK(BM_TcpPairedRatio)->Arg(0)->Arg(1)->Arg(2)->Arg(3)->MinTime(10.0);

// connectx() with a source IP against its bare technique directly (IP_BIND_ADDRESS_NO_PORT +
// bind + connect), paired the same way: the goal is <= 1.05.
void BM_TcpPairedVsTechnique(benchmark::State& state) {
    run_paired_ratio(
        state, [] { return one_connection(technique_cycle); },
        [] { return one_connection(connectx_cycle); });
}
BENCHMARK(BM_TcpPairedVsTechnique)->MinTime(10.0);

}  // namespace

int main(int argc, char** argv) {
    if (!cxbench::enter_netns()) return 1;
    g_dst = *cx::address::parse("127.0.1.1:8080");
    g_src = *cx::address::parse("127.0.0.1");
    if (!cxbench::start_tcp_sink(g_dst)) return 1;
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
