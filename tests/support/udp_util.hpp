// udp_util.hpp - helpers for the UDP tests: connectx() returning an errno, socket state probes
// (SO_REUSEADDR, bound port, peer), and a full SOCK_DIAG dump of the namespace's UDP sockets to
// check that no 4-tuple is held twice.
#pragma once

#include <connectx/connectx.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace cxtest {

// connectx(fd, src, dst, opts): 0 or the errno.
int udp_connectx(int fd, const cx::address* src, const cx::address& dst,
                 const connectx_opts* opts = nullptr);
int udp_socket(int family);  // SOCK_DGRAM | SOCK_CLOEXEC, fails the test on error

int reuseaddr_of(int fd);        // SO_REUSEADDR value, -1 on error
uint16_t local_port_of(int fd);  // 0 when unbound
bool is_connected(int fd);

// Every UDP socket of the calling thread's namespace, both families, from a netlink dump.
struct udp_sock {
    std::string local, remote;  // "ip:port" ("" remote when unconnected)
    bool connected = false;
    uint64_t cookie = 0;
};
std::vector<udp_sock> dump_udp_sockets();

// Connected 4-tuples that appear more than once in `socks` (as "local->remote").
std::vector<std::string> duplicate_tuples(const std::vector<udp_sock>& socks);

// One batch of two SOL_SOCKET questions on `fd` (src/sock_ops.hpp): how many of them went
// through the calling thread's io_uring (0 or 2).
int ring_batch(int fd);
// The batches a thread makes before it has a ring (sock_ops::kCallsBeforeRing), and one more:
// whether this thread's batches go through a ring here (a kernel with socket commands, io_uring
// allowed, CONNECTX_IO_URING not 0).
bool warm_thread_ring();

}  // namespace cxtest
