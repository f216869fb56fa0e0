// tcp_bench.cpp - TCP on loopback, in a private network namespace: plain connect() against
// connectx() with a source IP (IP_BIND_ADDRESS_NO_PORT + bind + connect), same run. Each
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

#include "support/netns.hpp"
#include "support/rtnl.hpp"

namespace {

cx::address g_dst;
cx::address g_src;

void close_now(int fd) {
    linger l{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd);
}

void BM_TcpPlainConnect(benchmark::State& state) {
    for (auto _ : state) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (connect(fd, g_dst.sa(), g_dst.size()) < 0) state.SkipWithError(strerror(errno));
        close_now(fd);
    }
}
BENCHMARK(BM_TcpPlainConnect)->MinTime(2.0);

// The floor under connectx without a source: plain connect() after the two system calls its
// validation makes (getsockname for family and bound state, SO_PROTOCOL for TCP or UDP).
void BM_TcpPlainConnectAfterTwoQueries(benchmark::State& state) {
    for (auto _ : state) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int proto;
        socklen_t plen = sizeof proto;
        getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
        getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &plen);
        if (connect(fd, g_dst.sa(), g_dst.size()) < 0) state.SkipWithError(strerror(errno));
        close_now(fd);
    }
}
BENCHMARK(BM_TcpPlainConnectAfterTwoQueries)->MinTime(2.0);

void BM_TcpConnectxSourceIp(benchmark::State& state) {
    for (auto _ : state) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (connectx(fd, g_src.sa(), g_src.size(), g_dst.sa(), g_dst.size(), nullptr) < 0)
            state.SkipWithError(strerror(errno));
        close_now(fd);
    }
}
BENCHMARK(BM_TcpConnectxSourceIp)->MinTime(2.0);

void BM_TcpConnectxNoSource(benchmark::State& state) {
    for (auto _ : state) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (connectx(fd, nullptr, 0, g_dst.sa(), g_dst.size(), nullptr) < 0)
            state.SkipWithError(strerror(errno));
        close_now(fd);
    }
}
BENCHMARK(BM_TcpConnectxNoSource)->MinTime(2.0);

}  // namespace

int main(int argc, char** argv) {
    if (unshare(CLONE_NEWNET) < 0) {
        std::perror("unshare(CLONE_NEWNET) (run as root)");
        return 1;
    }
    if (cxtest::link_up("lo") != 0 ||
        cxtest::write_sysctl("net/ipv4/ip_local_port_range", "10000 60999") != 0) {
        std::fprintf(stderr, "namespace setup failed\n");
        return 1;
    }
    g_dst = *cx::address::parse("127.0.1.1:8080");
    g_src = *cx::address::parse("127.0.0.1");
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(l, g_dst.sa(), g_dst.size()) < 0 || listen(l, 4096) < 0) return 1;
    std::thread([l] {
        for (;;) {
            int c = accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
            if (c >= 0) close(c);
        }
    }).detach();
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
