// netns.hpp - the test harness: run a test body in a forked child inside a private network
// namespace with loopback up, several local addresses, a small even-sized ip_local_port_range,
// and helpers for servers and sysctls. Nothing a test does there reaches the host's namespace.
#pragma once

#include <gtest/gtest.h>

#include <connectx/connectx.hpp>
#include <functional>
#include <string>

namespace cxtest {

struct netns_options {
    // ip_local_port_range of the namespace. Even-sized: TCP connect() never picks the top port
    // of an odd-sized range (port parity split).
    uint16_t port_lo = 40000;
    uint16_t port_hi = 40063;
    const char* reserved_ports = "";  // ip_local_reserved_ports
    int destinations = 4;             // 127.0.1.1.. and 2001:db8::1:1.. (see dst_v4/dst_v6)
    // dummy0 up, with fe80::1/64 and fe80::2/64 (link-local). A dummy device, or where the kernel
    // lacks that driver, one end of a veth pair (the other end, dummy0peer, is up and bare).
    bool dummy = false;
};

// Addresses the namespace has. Sources: 127.0.0.1 and 2001:db8::1 (plus 127/8 on lo).
// Destination i (0-based): 127.0.1.(i+1) and 2001:db8::1:(i+1).
cx::address v4(const char* text);  // parse or fail the test hard
cx::address dst_v4(int i, uint16_t port);
cx::address dst_v6(int i, uint16_t port);
inline const char* kSrcV4 = "127.0.0.1";
inline const char* kSrcV6 = "2001:db8::1";

// Why private namespaces cannot be made here (not root, no user namespaces), or "" if they can.
std::string netns_unavailable_reason();

// Skips the current test, with the reason, when namespaces cannot be made.
#define CXTEST_REQUIRE_NETNS()                                                 \
    do {                                                                       \
        std::string why_ = ::cxtest::netns_unavailable_reason();               \
        if (!why_.empty()) GTEST_SKIP() << "privileged test skipped: " << why_; \
    } while (0)

// Forks; the child enters a new network namespace, sets it up per `opt` and runs `body`. Test
// assertions in the body report from the child; the parent fails the test if the child had any
// failure, crashed, or did not finish within `timeout_s`.
void run_in_netns(const netns_options& opt, const std::function<void()>& body,
                  int timeout_s = 300);
inline void run_in_netns(const std::function<void()>& body) { run_in_netns({}, body); }

// Runs `body` in `n` forked children of the current process (which stays in its namespace) and
// returns the number of children that failed.
int run_in_children(int n, const std::function<void(int index)>& body, int timeout_s = 300);

// sysctls of the calling thread's current namespace ("net/ipv4/ip_local_port_range").
int write_sysctl(const char* rel, const std::string& value);
std::string read_sysctl(const char* rel);

// Sockets for servers and fixtures (CLOEXEC). Return the fd or fail the test (-1).
int tcp_listener(const cx::address& at, int backlog = 4096);
int udp_bound(const cx::address& at, bool reuseaddr = false);
int socket_for(const cx::address& like, int type);  // AF of `like`, SOCK_STREAM or SOCK_DGRAM

// Number of fds open in this process (for leak checks).
int open_fd_count();

}  // namespace cxtest
