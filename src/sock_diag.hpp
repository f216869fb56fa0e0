// sock_diag.hpp - SOCK_DIAG_BY_FAMILY over NETLINK_SOCK_DIAG (libmnl), for UDP and TCP:
//   - the exact lookup (no NLM_F_DUMP): the kernel's receive-path lookup, answering "which socket
//     would get a packet from `remote` to `local`", as a socket cookie or "none";
//   - a filtered dump of the sockets that could take a local port toward one destination, the
//     hint the UDP port search uses to stay flat as a range fills.
// Request builders and reply parsers are pure functions over bytes (tests and fuzzers feed them);
// the I/O functions around them are a few lines and take an already-open, connected netlink fd.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

namespace cx::detail {

// One end-to-end tuple, in the terms of the socket being checked. Addresses are raw network-order
// bytes (4 used for AF_INET, 16 for AF_INET6); ports host order; ifindex the device a scoped
// address lives on (or the socket's bound device), 0 = any.
struct diag_tuple {
    int family = 0;  // AF_INET or AF_INET6: the table to look in
    uint8_t local[16] = {};
    uint16_t local_port = 0;
    uint8_t remote[16] = {};
    uint16_t remote_port = 0;
    uint32_t ifindex = 0;
};

// Exact-lookup request: 16 bytes nlmsghdr + 56 bytes inet_diag_req_v2.
inline constexpr size_t kSockDiagRequestSize = 72;

// Builds the exact-lookup request for `t` into buf (cap >= kSockDiagRequestSize). In the request
// idiag_src/sport are the *remote* end and idiag_dst/dport the *local* end (the kernel's
// receive-path view: "src and dst are swapped for historical reasons"). Returns the length.
size_t sock_diag_build_lookup(void* buf, size_t cap, uint32_t seq, int protocol,
                              const diag_tuple& t) noexcept;

// The answer to an exact lookup: found with a cookie, or not found (the kernel's -ENOENT).
// `moved`: the socket found no longer holds the local port asked about — it was disconnected,
// closed or rebound between the kernel's lookup and its reply (seen under churn). It was the best
// match for the flow a moment ago: callers count it as another socket, never as "free".
struct diag_answer {
    std::optional<uint64_t> cookie;
    bool moved = false;
    // The socket found does not hold the flow for good: it is unconnected (bound to the local end
    // or the wildcard, it would receive the flow), moved, or connected to another remote end
    // (unconnected when the kernel matched it, connected elsewhere by the time the answer was
    // written). A connectx() of another process holds its socket so for microseconds: the port
    // may be free toward this destination a moment later.
    bool in_flight = false;
};

// Parses the reply to an exact lookup built for (seq, portid, t). Returns 0 and fills `out`, or:
//   EPROTO  malformed, truncated, another sequence number or port id, an unexpected message
//           type, or trailing garbage;
//   the kernel's errno for any error other than ENOENT.
int sock_diag_parse_lookup(const void* buf, size_t len, uint32_t seq, uint32_t portid,
                           const diag_tuple& t, diag_answer& out) noexcept;

// One socket of a dump, as the kernel reports it (the socket's own view: local is local).
struct diag_entry {
    int family = 0;
    uint8_t local[16] = {};
    uint16_t local_port = 0;
    uint8_t remote[16] = {};
    uint16_t remote_port = 0;
    uint32_t ifindex = 0;
    uint64_t cookie = 0;
};

// Dump request of `family`'s `protocol` sockets whose local port lies in [port_lo, port_hi] and
// that are either unconnected or connected to (remote, remote_port) — the sockets that may take
// a local port toward that destination. `remote_family` is AF_INET for IPv4 traffic (it also
// matches IPv4-mapped remotes of dual-stack sockets) or AF_INET6. The filter runs in the kernel
// (inet_diag bytecode). Returns the length, 0 if cap is too small (cap >= kSockDiagDumpMax).
inline constexpr size_t kSockDiagDumpMax = 160;
size_t sock_diag_build_dump(void* buf, size_t cap, uint32_t seq, int family, int protocol,
                            uint16_t port_lo, uint16_t port_hi, int remote_family,
                            const uint8_t* remote, uint16_t remote_port) noexcept;

// Parses one datagram of a dump reply. Calls on_entry for each socket and sets `done` at
// NLMSG_DONE. Returns 0, the kernel's errno (an NLMSG_ERROR), or EPROTO as for lookups.
using diag_entry_fn = void (*)(const diag_entry&, void* ctx);
int sock_diag_parse_dump(const void* buf, size_t len, uint32_t seq, uint32_t portid,
                         diag_entry_fn on_entry, void* ctx, bool& done) noexcept;

// I/O over a connected NETLINK_SOCK_DIAG socket `nl` (see nl_socket.hpp for how it is opened).
// Both return 0 or an errno: the parser's, ETIMEDOUT when the receive timeout expires, or the
// errno of send/recv. After any error the socket may hold a late reply: the caller must not
// reuse it (the caller discards its lease).
int sock_diag_lookup(int nl, uint32_t portid, uint32_t seq, int protocol, const diag_tuple& t,
                     diag_answer& out) noexcept;
// `n` exact lookups (n <= kSockDiagBatchMax) in one round trip: one send carries the requests
// (sequence numbers seq0 .. seq0+n-1), recvmmsg collects the answers, in any order; out[i]
// answers t[i]. 0 or an errno as sock_diag_lookup's (EPROTO also for an answer to no request, or
// to one already answered). The kernel answers each request of a message in turn.
inline constexpr size_t kSockDiagBatchMax = 64;
int sock_diag_lookup_batch(int nl, uint32_t portid, uint32_t seq0, int protocol,
                           const diag_tuple* t, size_t n, diag_answer* out) noexcept;
int sock_diag_dump(int nl, uint32_t portid, uint32_t seq, int family, int protocol,
                   uint16_t port_lo, uint16_t port_hi, int remote_family, const uint8_t* remote,
                   uint16_t remote_port, diag_entry_fn on_entry, void* ctx) noexcept;

// Dumps made by this process so far (benchmarks report dumps per connect).
uint64_t sock_diag_dump_count() noexcept;

}  // namespace cx::detail
