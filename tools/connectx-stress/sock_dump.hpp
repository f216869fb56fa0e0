// sock_dump.hpp - the duplicate check: a SOCK_DIAG dump of every ESTABLISHED socket of one
// protocol in the calling process's namespace, and what it shows (duplicate 4-tuples, local
// (IP, port) pairs shared across destinations). The analysis is pure and works on any list.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace cxstress {

// One socket's 4-tuple as the kernel reports it. Addresses in network order (IPv4 in the first
// four bytes), ports in host order.
struct tuple4 {
    std::array<uint8_t, 16> local{};
    std::array<uint8_t, 16> remote{};
    uint16_t local_port = 0;
    uint16_t remote_port = 0;
};

// Dumps the ESTABLISHED sockets (for UDP: the connected ones) of `family` and `protocol`
// (IPPROTO_TCP or IPPROTO_UDP) into `out`. Returns 0 or an errno (EPROTO for a malformed reply).
int dump_established(int family, int protocol, std::vector<tuple4>& out);

struct tuple_stats {
    uint64_t clients = 0;      // sockets whose remote port is the server port
    uint64_t duplicates = 0;   // sockets beyond the first on any one 4-tuple, both ends counted
    uint64_t local_pairs = 0;  // distinct local (IP, port) among the clients
    bool shared = false;       // some local pair is connected to two or more remote addresses
};

// Analyses a dump. `server_port` tells the client ends (remote port == server_port) from the
// server ends of TCP connections. Sorts `tuples`.
tuple_stats analyse(std::vector<tuple4>& tuples, uint16_t server_port);

}  // namespace cxstress
