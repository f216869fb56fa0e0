// socket_kind.hpp - which kind of socket a caller passed (TCP, UDP, or the errno for anything
// else), asked with the fewest system calls. The process learns: the protocol of the last
// socket that passed goes first (most programs connect one kind), and one getsockopt proves a
// TCP socket on this kernel:
//   TCP_IS_MPTCP (6.5+)  0 on TCP, 1 on MPTCP, refused by every other socket;
//   TCP_SYNCNT           where TCP_IS_MPTCP is unknown: TCP answers it, MPTCP does not (6.18
//                        does not either), nor do UDP, raw or unix sockets.
// A kernel that refuses the option on a TCP socket moves the choice down the list.
// When the last socket was UDP and the kernel takes several questions in one system call
// (sock_ops.hpp), the UDP path's first questions ride along with SO_PROTOCOL.
#pragma once

#include <cstdint>

namespace cx::detail {

// The UDP path's first questions (udp_connect.cpp), each answer with its errno.
struct udp_answers {
    bool asked = false;
    int reuseport = 0;
    int reuseport_error = 0;
    uint64_t netns_cookie = 0;
    int netns_cookie_error = 0;
    int reuseaddr = 0;
    int reuseaddr_error = 0;
    // With no source IP given: the device the socket is bound to (udp_connect.cpp reads it).
    bool device_asked = false;
    int device = 0;
    int device_error = 0;
};

// Asks them (the device too when `route`), and SO_PROTOCOL when `protocol` is given (its errno
// is the return value then).
int ask_udp_answers(int fd, bool route, udp_answers& out, int* protocol = nullptr) noexcept;

// How the one TCP question went.
enum class tcp_proof {
    not_asked,  // the last socket was not TCP, or no option proves TCP here
    proven,     // a TCP socket (a raw IPPROTO_TCP socket refuses the option)
    refused,    // refused: SO_PROTOCOL was asked instead
};

struct socket_kind {
    int protocol = 0;  // IPPROTO_TCP or IPPROTO_UDP
    tcp_proof proof = tcp_proof::not_asked;
    int option = 0;   // the TCP option asked
    udp_answers udp;  // asked with SO_PROTOCOL when the last socket was UDP
};

// IPPROTO_TCP or IPPROTO_UDP in `out`, or the errno for any other socket (EBADF, ENOTSOCK,
// EPROTOTYPE, EAFNOSUPPORT). `route`: the call gives no source IP (a route question ahead).
// SO_PROTOCOL, asked when the TCP option was not, passes a raw socket of IPPROTO_TCP or IPPROTO_UDP
// too: check_socket tells those apart.
[[nodiscard]] int socket_kind_of(int fd, bool route, socket_kind& out) noexcept;

// After check_socket passed on the socket `k` describes: a TCP socket, not raw, that refused the
// option shows this kernel lacks it, so later calls ask the next one.
void socket_kind_confirmed(const socket_kind& k) noexcept;

}  // namespace cx::detail
