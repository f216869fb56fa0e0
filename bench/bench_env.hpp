// bench_env.hpp - the little kernel plumbing the benchmarks need inside their private network
// namespace (a link up, a sysctl, the destination addresses the tests also use), taken from
// tools/common so that bench/ builds without the test suite.
#pragma once

#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <connectx/connectx.hpp>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>

#include "tools/common/kernel_file.hpp"
#include "tools/common/rtnl.hpp"

namespace cxbench {

// Brings interface `ifname` up: 0 or an errno.
inline int link_up(const char* ifname) {
    unsigned i = if_nametoindex(ifname);
    return i ? cxcommon::link_up(i) : ENODEV;
}

// Writes /proc/sys/`rel`: 0 or an errno.
inline int write_sysctl(const char* rel, const std::string& value) {
    std::string path = std::string("/proc/sys/") + rel;
    return cxcommon::write_file(path.c_str(), value.empty() ? "\n" : value);
}

// A private network namespace with lo up and ip_local_port_range "10000 60999"; false (with the
// reason on stderr) when it cannot be had.
inline bool enter_netns() {
    if (unshare(CLONE_NEWNET) < 0) {
        std::perror("unshare(CLONE_NEWNET) (run as root)");
        return false;
    }
    if (link_up("lo") != 0 || write_sysctl("net/ipv4/ip_local_port_range", "10000 60999") != 0) {
        std::fprintf(stderr, "namespace setup failed\n");
        return false;
    }
    return true;
}

// A TCP listener on `at` whose detached thread accepts and closes every connection: false if it
// could not listen.
inline bool start_tcp_sink(const cx::address& at) {
    int l = socket(at.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(l, at.sa(), at.size()) < 0 || listen(l, 4096) < 0) return false;
    std::thread([l] {
        for (;;) {
            int c = accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
            if (c >= 0) close(c);
        }
    }).detach();
    return true;
}

// The i-th destination, 127.0.1.(i+1): on lo, as tests/support/netns.hpp's dst_v4.
inline cx::address dst_v4(int i, uint16_t port) {
    return cx::address::v4((127u << 24) | (1u << 8) | uint32_t(i + 1), port);
}

}  // namespace cxbench
