// interpose.cpp - the libc functions the drop-in replaces (the only symbols it exports). Each is
// a few lines: pass straight through while connectx runs on this thread or when the drop-in is
// off, keep the descriptor table in step, hand bind/connect to their paths.
#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>

#include "config.hpp"
#include "paths.hpp"
#include "real_calls.hpp"
#include "reentry.hpp"

namespace cxp {

thread_local bool t_inside = false;

namespace {

bool hands_off() noexcept {
    return inside_connectx() || current_config().off;
}

// The program's own choices that change what the drop-in may do with the socket.
void note_option(int fd, int level, int name, const void* value, socklen_t len) noexcept {
    uint32_t flag = 0;
    if (level == SOL_SOCKET && name == SO_REUSEPORT) flag = slot_flag::reuseport;
    if (level == SOL_SOCKET && name == SO_REUSEADDR) flag = slot_flag::reuseaddr;
    if (level == SOL_IP && name == IP_BIND_ADDRESS_NO_PORT) flag = slot_flag::no_port;
    fd_slot* s = slot_of(fd);
    if (!flag || !s || !value || len < socklen_t(sizeof(int))) return;
    if (*static_cast<const int*>(value))
        s->flags.fetch_or(flag, std::memory_order_release);
    else
        s->flags.fetch_and(~flag, std::memory_order_release);
}

// A deferred bind the program is about to rely on is made real first: 0 or an errno.
int before_use(int fd, bool has_destination) noexcept {
    fd_slot* s = slot_of(fd);
    if (!has_destination || hands_off() || !has_deferred(s)) return 0;
    if (!(s->flags.load(std::memory_order_acquire) & slot_flag::udp)) return 0;
    return materialize(fd, *s);
}

void after_dup(int from, int rc) noexcept {
    if (rc >= 0 && rc != from) slot_copy(from, rc);
}

bool is_dupfd(int cmd) noexcept {
    return cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC;
}

}  // namespace
}  // namespace cxp

using namespace cxp;

#define CXP_EXPORT extern "C" __attribute__((visibility("default")))

CXP_EXPORT int socket(int domain, int type, int protocol) {
    int fd = real().socket(domain, type, protocol);
    if (fd >= 0) slot_reset(fd, hands_off() ? 0 : kind_from_socket_call(domain, type, protocol));
    return fd;
}

CXP_EXPORT int socketpair(int domain, int type, int protocol, int sv[2]) {
    int rc = real().socketpair(domain, type, protocol, sv);
    if (rc == 0) slot_reset(sv[0], 0), slot_reset(sv[1], 0);
    return rc;
}

CXP_EXPORT int bind(int fd, const sockaddr* sa, socklen_t len) {
    if (hands_off()) return real().bind(fd, sa, len);
    return bind_path(fd, sa, len);
}

CXP_EXPORT int connect(int fd, const sockaddr* sa, socklen_t len) {
    if (hands_off()) return real().connect(fd, sa, len);
    return connect_path(fd, sa, len);
}

CXP_EXPORT int setsockopt(int fd, int level, int name, const void* value, socklen_t len) {
    int rc = real().setsockopt(fd, level, name, value, len);
    if (rc == 0 && !hands_off()) note_option(fd, level, name, value, len);
    return rc;
}

CXP_EXPORT int getsockname(int fd, sockaddr* sa, socklen_t* len) {
    fd_slot* s = slot_of(fd);
    if (!hands_off() && has_deferred(s)) {
        sockaddr_storage now;
        socklen_t n = sizeof now;
        // TCP: only while no port is held (listen() or connect() may have picked one).
        if (real().getsockname(fd, reinterpret_cast<sockaddr*>(&now), &n) == 0 &&
            (now.ss_family == AF_INET ? reinterpret_cast<sockaddr_in&>(now).sin_port
                                      : reinterpret_cast<sockaddr_in6&>(now).sin6_port) == 0) {
            // A bind that fails now (the range is full) leaves the socket as it is: getsockname
            // then shows port 0, which is the truth, rather than failing as it never does.
            int saved = errno;
            (void)materialize(fd, *s);
            errno = saved;
        }
    }
    return real().getsockname(fd, sa, len);
}

CXP_EXPORT ssize_t sendto(int fd, const void* buf, size_t n, int flags, const sockaddr* to,
                          socklen_t tolen) {
    if (int e = before_use(fd, to != nullptr)) return errno = e, -1;
    return real().sendto(fd, buf, n, flags, to, tolen);
}

CXP_EXPORT ssize_t sendmsg(int fd, const msghdr* msg, int flags) {
    if (int e = before_use(fd, msg && msg->msg_name)) return errno = e, -1;
    return real().sendmsg(fd, msg, flags);
}

CXP_EXPORT int sendmmsg(int fd, mmsghdr* vec, unsigned n, int flags) {
    if (int e = before_use(fd, vec && n && vec[0].msg_hdr.msg_name)) return errno = e, -1;
    return real().sendmmsg(fd, vec, n, flags);
}

// Descriptors received over a UNIX socket (SCM_RIGHTS) start with a clean slot.
CXP_EXPORT ssize_t recvmsg(int fd, msghdr* msg, int flags) {
    ssize_t rc = real().recvmsg(fd, msg, flags);
    if (rc < 0 || !msg || msg->msg_controllen == 0) return rc;
    for (cmsghdr* c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; ++i) {
            int received;
            std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof received);
            slot_reset(received, 0);
        }
    }
    return rc;
}

CXP_EXPORT int accept(int fd, sockaddr* sa, socklen_t* len) {
    int rc = real().accept(fd, sa, len);
    if (rc >= 0) slot_reset(rc, 0);
    return rc;
}

CXP_EXPORT int accept4(int fd, sockaddr* sa, socklen_t* len, int flags) {
    int rc = real().accept4(fd, sa, len, flags);
    if (rc >= 0) slot_reset(rc, 0);
    return rc;
}

// Cleared before the descriptor is released: once close returns, the number may already belong
// to another thread's new socket, whose slot must not be wiped.
CXP_EXPORT int close(int fd) {
    slot_clear(fd);
    return real().close(fd);
}

CXP_EXPORT int close_range(unsigned first, unsigned last, int flags) {
    if (!real().close_range) return errno = ENOSYS, -1;
    if (!(flags & CLOSE_RANGE_CLOEXEC)) slot_clear_range(first, last);
    return real().close_range(first, last, flags);
}

CXP_EXPORT int dup(int fd) {
    int rc = real().dup(fd);
    after_dup(fd, rc);
    return rc;
}

CXP_EXPORT int dup2(int from, int to) {
    int rc = real().dup2(from, to);
    after_dup(from, rc);
    return rc;
}

CXP_EXPORT int dup3(int from, int to, int flags) {
    int rc = real().dup3(from, to, flags);
    after_dup(from, rc);
    return rc;
}

// fcntl's third argument is an int or a pointer depending on cmd; glibc itself reads it as a
// pointer-sized value and hands it on, which is what is done here.
namespace cxp {
namespace {
int fcntl_via(int (*fn)(int, int, ...), int fd, int cmd, void* arg) noexcept {
    int rc = fn(fd, cmd, arg);
    if (is_dupfd(cmd)) after_dup(fd, rc);
    return rc;
}
}  // namespace
}  // namespace cxp

#define CXP_FCNTL(name)                              \
    CXP_EXPORT int name(int fd, int cmd, ...) {      \
        va_list ap;                                  \
        va_start(ap, cmd);                           \
        void* arg = va_arg(ap, void*);               \
        va_end(ap);                                  \
        return fcntl_via(real().name, fd, cmd, arg); \
    }
CXP_FCNTL(fcntl)
CXP_FCNTL(fcntl64)

// Programs that close descriptors with syscall(SYS_close, fd) (libuv does) keep the table in
// step too. Their bind/connect made this way stay out of reach (connectx-exec(1), LIMITS).
CXP_EXPORT long syscall(long number, ...) {
    va_list ap;
    va_start(ap, number);
    long a[6];
    for (long& x : a) x = va_arg(ap, long);
    va_end(ap);
    if (number == SYS_close) slot_clear(int(a[0]));
    if (number == SYS_close_range && !(a[2] & CLOSE_RANGE_CLOEXEC))
        slot_clear_range(unsigned(a[0]), unsigned(a[1]));
    long rc = real().syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
    if (number == SYS_dup || number == SYS_dup2 || number == SYS_dup3 ||
        (number == SYS_fcntl && is_dupfd(int(a[1]))))
        after_dup(int(a[0]), int(rc));
    return rc;
}
