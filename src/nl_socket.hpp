// nl_socket.hpp - netlink I/O on a connected socket: open one (CLOEXEC, bound, connected to the
// kernel, with a receive timeout), send one request, receive one datagram. The codecs
// (sock_diag, route_lookup, iface_check) do their round trips through these; nothing here knows
// about namespaces or pools.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cx::detail {

struct nl_socket {
    int fd = -1;
    uint32_t portid = 0;
    uint32_t seq = 0;
};

// send(2) of one request: 0 or an errno (a short send is EPROTO).
[[nodiscard]] int nl_send(int fd, const void* buf, size_t len) noexcept;
// recv of one datagram: 0 or an errno. ETIMEDOUT when the receive timeout expires; EPROTO when
// the datagram did not fit (MSG_TRUNC).
[[nodiscard]] int nl_recv(int fd, void* buf, size_t cap, size_t& len) noexcept;

// Opens a NETLINK_* socket in the calling thread's namespace: CLOEXEC, tracked in owned_fds,
// bound, connected to the kernel (so nothing but the kernel can send to it) and with the receive
// timeout below. 0 or an errno.
[[nodiscard]] int nl_open(int protocol, nl_socket& out) noexcept;

// The receive timeout of netlink sockets opened from now on (tests shorten it). Default 1000 ms.
void nl_set_timeout_ms(int ms) noexcept;
// Sets that timeout as SO_RCVTIMEO on `fd`: 0 or an errno.
[[nodiscard]] int nl_apply_timeout(int fd) noexcept;

}  // namespace cx::detail
