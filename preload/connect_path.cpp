// connect_path.cpp - connect(2) under the drop-in: which calls go to connectx, which to the
// kernel unchanged.
//
//   TCP, first connect     connectx when there is something to choose (a configured default
//                          source or port range); a bind(ip, 0) the drop-in turned into
//                          IP_BIND_ADDRESS_NO_PORT needs nothing more: the kernel's connect picks
//                          a port that keeps the 4-tuple unique. An explicitly pinned port gets
//                          SO_REUSEADDR (connectx's technique) so its TIME_WAIT can be reused.
//   TCP, later connects    the kernel: EALREADY, EISCONN, EINTR's aftermath, as connect(2).
//   UDP, not yet bound     connectx: source discovery (or the deferred/default source), port
//                          search, lock. Its errnos are what the program sees (EAGAIN when the
//                          range toward that destination is full, fail-closed errnos).
//   UDP, bound             the kernel: re-connect to another destination keeps the port, as
//                          connect(2) does; AF_UNSPEC dissolves the association.
// When connectx refuses a call before any side effect (EINVAL, EAFNOSUPPORT, ...: a call it does
// not take, such as destination port 0 or an IPv4 sockaddr on a dual-stack socket), the call
// goes to the kernel, which gives connect(2)'s own answer.
#include <connectx/connectx.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

#include "config.hpp"
#include "paths.hpp"
#include "real_calls.hpp"
#include "reentry.hpp"
#include "sockaddr_util.hpp"

namespace cxp {
namespace {

using namespace slot_flag;

// A source the caller hands to connectx: empty (`len` 0) or an address; or a pool's prefix
// (`prefix_len` > 0), which connectx picks from.
struct source {
    sockaddr_in6 sa{};
    socklen_t len = 0;
    sockaddr_storage prefix{};
    uint8_t prefix_len = 0;
    const sockaddr* ptr() const noexcept {
        return len ? reinterpret_cast<const sockaddr*>(&sa) : nullptr;
    }
    bool any() const noexcept { return len || prefix_len; }
};

// CONNECTX_POOL's prefix for a socket of this kind toward `dst`: IPv4-mapped (its length counted
// over 128 bits) for IPv4 traffic of a dual-stack socket.
void pool_source(const config& c, uint32_t f, const sockaddr* dst, source& s) noexcept {
    if (!(f & inet6)) {
        if (!c.pool_v4_len) return;
        std::memcpy(&s.prefix, &c.pool_v4, sizeof c.pool_v4);
        s.prefix_len = c.pool_v4_len;
    } else if (is_v4_mapped(dst)) {
        if (!c.pool_v4_len) return;
        sockaddr_in6 m = mapped(c.pool_v4);
        std::memcpy(&s.prefix, &m, sizeof m);
        s.prefix_len = uint8_t(c.pool_v4_len + 96);
    } else if (c.pool_v6_len) {
        std::memcpy(&s.prefix, &c.pool_v6, sizeof c.pool_v6);
        s.prefix_len = c.pool_v6_len;
    }
}

source default_source(const config& c, uint32_t f, const sockaddr* dst) noexcept {
    source s;
    if (!(f & inet6)) {
        if (c.has_v4) std::memcpy(&s.sa, &c.src_v4, s.len = sizeof c.src_v4);
    } else if (is_v4_mapped(dst)) {
        if (c.has_v4) s.sa = mapped(c.src_v4), s.len = sizeof s.sa;
    } else if (c.has_v6) {
        s.sa = c.src_v6, s.len = sizeof s.sa;
    }
    if (!s.len) pool_source(c, f, dst, s);
    return s;
}

// Errors connectx gives before any side effect for calls it does not take.
bool refused_untouched(int e) noexcept {
    return e == EINVAL || e == EAFNOSUPPORT || e == EPROTOTYPE || e == EISCONN || e == ENOTSOCK ||
           e == EBADF;
}

int plain(int fd, const sockaddr* dst, socklen_t len, const char* technique) noexcept {
    int rc = real().connect(fd, dst, len);
    if (current_config().verbose && (rc == 0 || errno == EINPROGRESS)) {
        int e = errno;
        report_connection(fd, technique, 0, nullptr, dst, rc == 0 ? 0 : e);
        errno = e;
    }
    return rc;
}

int via_connectx(int fd, fd_slot& s, uint32_t f, const source& src, const sockaddr* dst,
                 socklen_t len) noexcept {
    const config& c = current_config();
    connectx_result res;
    connectx_opts o{};
    o.size = sizeof o;
    o.port_lo = c.port_lo;
    o.port_hi = c.port_hi;
    if (src.prefix_len) {
        o.pool_prefix = &src.prefix;
        o.pool_prefix_len = src.prefix_len;
    }
    // Only for --verbose: reporting the local end can cost connectx a getsockname().
    o.result = c.verbose ? &res : nullptr;
    int rc, e;
    {
        inside_scope in;
        rc = connectx(fd, src.ptr(), src.len, dst, len, &o);
        e = errno;
    }
    if (rc == 0 || e == EINPROGRESS) {
        if (f & udp) s.flags.fetch_or(bound, std::memory_order_release);
        if (c.verbose)
            report_connection(fd, connectx_technique_name(res.technique), res.lookups,
                              reinterpret_cast<const sockaddr*>(&res.local), dst, rc ? e : 0);
        errno = e;
        return rc;
    }
    if (refused_untouched(e)) {
        if (int m = materialize(fd, s)) {
            errno = m;
            return -1;
        }
        return plain(fd, dst, len, "connect");
    }
    errno = e;
    return -1;
}

int connect_tcp(int fd, fd_slot& s, uint32_t f, const sockaddr* dst, socklen_t len) noexcept {
    if ((f & (attempted | probed)) || ((f & bound) && !(f & pinned)))
        return real().connect(fd, dst, len);
    s.flags.fetch_or(attempted, std::memory_order_release);
    const config& c = current_config();
    if (f & pinned) {
        if (!(f & reuseaddr)) real_setsockopt_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
        return plain(fd, dst, len, "reuseaddr");
    }
    if (f & deferred) {
        // The kernel holds the address with IP_BIND_ADDRESS_NO_PORT; connectx only for a range.
        s.flags.fetch_and(~deferred, std::memory_order_release);
        if (!c.port_lo) return plain(fd, dst, len, "bind-no-port");
        source src;
        std::memcpy(&src.sa, &s.source, src.len = inet_len(reinterpret_cast<sockaddr*>(&s.source)));
        return via_connectx(fd, s, f, src, dst, len);
    }
    source src = default_source(c, f, dst);
    if (!src.any() && !c.port_lo) return plain(fd, dst, len, "connect");
    return via_connectx(fd, s, f, src, dst, len);
}

int connect_udp(int fd, fd_slot& s, uint32_t f, const sockaddr* dst, socklen_t len) noexcept {
    if (f & bound) return real().connect(fd, dst, len);
    source src = default_source(current_config(), f, dst);
    if (f & deferred) {
        std::memcpy(&src.sa, &s.source, sizeof src.sa);
        src.len = inet_len(reinterpret_cast<sockaddr*>(&s.source));
        src.prefix_len = 0;  // the program bound an address: that one, not the pool
    }
    int rc = via_connectx(fd, s, f, src, dst, len);
    if (rc == 0) s.flags.fetch_and(~deferred, std::memory_order_release);
    return rc;
}

}  // namespace

int connect_path(int fd, const sockaddr* dst, socklen_t len) noexcept {
    fd_slot* s = slot_of(fd);
    if (!s || !is_inet(dst, len)) return real().connect(fd, dst, len);
    uint32_t f = kind_of(fd, *s);
    if (!(f & (tcp | udp)) || (f & reuseport)) return real().connect(fd, dst, len);
    return (f & tcp) ? connect_tcp(fd, *s, f, dst, len) : connect_udp(fd, *s, f, dst, len);
}

}  // namespace cxp
