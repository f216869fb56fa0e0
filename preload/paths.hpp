// paths.hpp - the drop-in's decisions for bind, connect and the calls that reveal or use a
// deferred bind. Each takes the call's arguments and returns what the wrapped call returns
// (-1 with errno on failure), exactly as the libc function would.
#pragma once

#include <sys/socket.h>

#include <cstdint>

#include "fd_table.hpp"

namespace cxp {

// The kind flags of the socket behind `s` (fd's slot): what socket() recorded, or, for a
// descriptor the drop-in did not see created, asked of the kernel once and remembered with
// slot_flag::probed (its history is unknown: its binds pass through, its connects fall back).
uint32_t kind_of(int fd, fd_slot& s) noexcept;

// Flags for a socket(domain, type, protocol) just created.
uint32_t kind_from_socket_call(int domain, int type, int protocol) noexcept;

int bind_path(int fd, const sockaddr* sa, socklen_t len) noexcept;
int connect_path(int fd, const sockaddr* dst, socklen_t len) noexcept;

// Make a deferred bind real now (the program is about to observe or use the port): 0 or errno.
int materialize(int fd, fd_slot& s) noexcept;

// True when `s` holds a deferred bind the program is about to reveal (getsockname) or rely on
// (sendto with a destination on an unconnected UDP socket).
inline bool has_deferred(const fd_slot* s) noexcept {
    return s && (s->flags.load(std::memory_order_acquire) & slot_flag::deferred);
}

// One line on standard error for a connection (CONNECTX_VERBOSE).
void report_connection(int fd, const char* technique, uint32_t lookups, const sockaddr* local,
                       const sockaddr* remote, int error) noexcept;

}  // namespace cxp
