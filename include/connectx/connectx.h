/*
 * connectx.h - open outgoing TCP and UDP connections without the ephemeral-port ceiling.
 *
 * connectx(fd, src, dst) does what bind(src) + connect(dst) should do: every distinct
 * destination may reuse the whole local port range, so the number of concurrent connections is
 * destinations x range instead of range. The library picks the kernel technique per call:
 *
 *   caller gives     TCP                                 UDP
 *   dst only         connect()                           route lookup, port search, lock
 *   src IP, dst      IP_BIND_ADDRESS_NO_PORT + bind      port search, lock
 *   src IP:port      SO_REUSEADDR + bind                 lock: SO_REUSEADDR bind, exact
 *                                                        SOCK_DIAG lookup, connect
 *
 * This header is valid C99 and C++. See connectx(3) for the full manual.
 */
#ifndef CONNECTX_CONNECTX_H
#define CONNECTX_CONNECTX_H

#include <stdint.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define CONNECTX_API __attribute__((visibility("default")))
#else
#define CONNECTX_API
#endif

#define CONNECTX_VERSION_MAJOR 0
#define CONNECTX_VERSION_MINOR 1
#define CONNECTX_VERSION_PATCH 0

/* How the connection was made (connectx_result.technique). */
enum connectx_technique {
    CONNECTX_TECH_NONE = 0,             /* nothing was done (failure before any side effect) */
    CONNECTX_TECH_CONNECT = 1,          /* TCP: plain connect(), the kernel picked source */
    CONNECTX_TECH_BIND_NO_PORT = 2,     /* TCP: IP_BIND_ADDRESS_NO_PORT + bind(ip, 0) + connect */
    CONNECTX_TECH_REUSEADDR = 3,        /* TCP: SO_REUSEADDR + bind(ip, port) + connect */
    CONNECTX_TECH_LOCAL_PORT_RANGE = 4, /* TCP: IP_LOCAL_PORT_RANGE narrowed the kernel's pick */
    CONNECTX_TECH_EXPLICIT_PORTS = 5,   /* TCP: explicit ports of the range, SO_REUSEADDR each */
    CONNECTX_TECH_UDP_LOCK = 6,         /* UDP: SO_REUSEADDR lock + exact SOCK_DIAG lookup */
    CONNECTX_TECH_UDP_ALONE = 7         /* UDP: the port was free: bound without SO_REUSEADDR,
                                           which no other socket can share, so no lookup */
};

/* What connectx() chose. Filled on success; on failure only `technique`, `lookups` and
 * `attempts` are meaningful (they say how far the call got). */
struct connectx_result {
    struct sockaddr_storage local;  /* local address and port of the connection */
    struct sockaddr_storage remote; /* the destination as connected */
    uint32_t technique;             /* enum connectx_technique */
    uint32_t lookups;               /* SOCK_DIAG conflict lookups made (UDP) */
    uint32_t attempts;              /* source ports tried (explicit-port and UDP searches) */
    uint32_t reserved_;             /* zero */
};

/* connectx_opts.flags */
/* TCP with a port range: skip IP_LOCAL_PORT_RANGE and try explicit ports of the range with
 * SO_REUSEADDR (what the library does by itself on kernels before 6.3). */
#define CONNECTX_F_EXPLICIT_PORTS 0x1u
#define CONNECTX_F_ALL (CONNECTX_F_EXPLICIT_PORTS)

/*
 * Optional knobs. Zero-initialise, set `size = sizeof(struct connectx_opts)`, then fill in what
 * you need. `size` lets the structure grow without breaking the ABI, by the kernel's rule for
 * extensible structs (openat2(2), clone3(2)): a `size` below the first published layout (24
 * bytes, up to and including `result`) is EINVAL, and nothing past `size` is read; a larger
 * `size` than this library knows is accepted when every byte it does not know is zero (a newer
 * program's fields left unset) and is E2BIG otherwise. Fields are only ever appended.
 */
struct connectx_opts {
    uint32_t size;     /* sizeof(struct connectx_opts) */
    uint32_t flags;    /* CONNECTX_F_*; unknown bits are EINVAL */
    uint16_t port_lo;  /* source port range, inclusive, host order; 0/0 = no range. Only */
    uint16_t port_hi;  /* used when src has port 0. lo > hi or lo == 0 < hi is EINVAL. */
    int32_t ifindex;   /* bind the connection to this interface (SO_BINDTODEVICE); 0 = none */
    struct connectx_result *result; /* optional out-pointer, may be NULL */
    /* --- layout 1 (48 bytes): a source-address pool. See "Source pools" below. */
    const struct sockaddr_storage *pool; /* pool_count source addresses (port 0), may be NULL */
    uint32_t pool_count;                 /* entries of `pool`; 0 = none */
    uint8_t pool_prefix_len;             /* 0 = no prefix; else the length of *pool_prefix */
    uint8_t reserved1_[3];               /* zero */
    const struct sockaddr_storage *pool_prefix; /* a network prefix (address + pool_prefix_len) */
};

/*
 * Source pools. With a pool (any pool field set) connectx() chooses the source IP itself:
 * capacity is then addresses x range x destinations. The pool is the `pool_count` addresses of
 * `pool` followed by the addresses of the prefix: all of them, except that an IPv4 prefix
 * shorter than /31 leaves out its network and broadcast addresses. Policy: round-robin. Each
 * call starts at the next pool entry (one process-wide counter that starts at a random entry),
 * and when an entry is exhausted toward dst (UDP: EAGAIN; TCP: EADDRNOTAVAIL, which is also what
 * a non-local address gives) it moves on to the next, so the pool fills evenly and every address
 * is tried before the call fails with the last entry's errno. Any other error ends the call at
 * once. An entry found exhausted toward dst is tried last (still tried) by the calls of the next
 * 100 ms. The chosen source is in result->local. Every list entry is checked on every call,
 * before any side effect (no system call, but a cost that grows with the list); a prefix costs
 * the same whatever its size. Bad pools, before any side effect:
 *   EINVAL        a pool together with a source address other than the wildcard with port 0;
 *                 an empty pool (pool set, pool_count 0, no prefix); pool_count > 0 with pool
 *                 NULL, or above 65,536; pool_prefix_len > 0 with pool_prefix NULL, or
 *                 pool_prefix with length 0; a length above 32 (IPv4) or 128 (IPv6), or a
 *                 prefix of more than 65,536 addresses (IPv4 shorter than /16, IPv6 shorter than
 *                 /112; IPv4-mapped prefixes count their length over 128 bits); a prefix with
 *                 host bits set or a port; a pool entry with a port, or one that is the
 *                 wildcard, a multicast or the broadcast address; reserved1_ not zero.
 *   EAFNOSUPPORT  a pool entry or the prefix of another family than the socket (IPv4 traffic
 *                 on an IPv6 socket takes IPv4-mapped entries, as for src).
 * After a failure the socket holds no port and no association, as after any failed call; its
 * local address may be the last pool entry tried (a failed bind+connect leaves the address, as
 * bind(2) does).
 */

/*
 * Connect socket `fd` (SOCK_STREAM or SOCK_DGRAM, AF_INET or AF_INET6, unbound and unconnected)
 * to `dst`, from `src` if given. `src` may be NULL, which means any address and any port; a
 * wildcard address with port 0 means the same. `opts` may be NULL.
 *
 * Returns 0 on success. On failure returns -1 and sets errno; like connect(2), the caller then
 * closes the socket. It is never left holding a port lock nor associated, and its options are as
 * the caller set them: IP_LOCAL_PORT_RANGE, IP_BIND_ADDRESS_NO_PORT, the device (opts->ifindex is
 * taken back) and SO_REUSEADDR. A socket bound for good (an explicit source port, or any port on
 * kernels before 6.3) stays bound, as after bind(2); one whose port it shares with other flows
 * keeps SO_REUSEADDR=1, which it needs so as not to lock them out. Every input (src, dst, opts)
 * is read before anything is written to opts->result, which may overlay them. A non-blocking TCP
 * socket returns -1/EINPROGRESS as connect(2) does: the connection completes in the background.
 * With no source address, the routing table is asked what connect(2) would ask it: protocol,
 * ports, SO_MARK, the socket's owner and IP_TOS (IPv4), its device.
 *
 * Errors that leave the socket as it was, checked before any side effect; but for TCP with a
 * source IP and no port, range or interface, the kernel's bind finds a socket of the wrong family
 * or a bound, listening or connected one (IP_BIND_ADDRESS_NO_PORT is then set back to 0):
 *   EBADF         fd is not an open file descriptor.
 *   ENOTSOCK      fd is not a socket.
 *   EPROTOTYPE    the socket is neither TCP nor UDP (raw, MPTCP, SCTP, ...).
 *   EAFNOSUPPORT  the socket is neither AF_INET nor AF_INET6; or src/dst family does not fit the
 *                 socket (AF_INET on an IPv6 socket is refused: pass an IPv4-mapped address; an
 *                 IPv4-mapped address on an IPV6_V6ONLY socket is refused); or an IPv4-mapped
 *                 src (::ffff:0.0.0.0 included) toward an IPv6 dst, or an IPv6 src toward an
 *                 IPv4-mapped dst.
 *   EINVAL        dst is NULL; a sockaddr is shorter than its family needs; dst has port 0 or
 *                 is a wildcard address (0.0.0.0, ::, ::ffff:0.0.0.0); src is a multicast or
 *                 the broadcast address (in either form); a link-local or link-scoped multicast
 *                 IPv6 address (fe80::/10, ff01::/16, ff02::/16) has no scope id, or src and dst
 *                 have different scope ids; opts->size is below the first layout; unknown
 *                 flags; port range with lo > hi or lo == 0; negative ifindex.
 *   E2BIG         opts->size is larger than this library knows and the bytes past its end
 *                 are not all zero.
 *   EINVAL        UDP: the socket has SO_REUSEPORT set (the lock cannot exclude sockets of
 *                 the same user in its group, so the 4-tuple could not be kept unique).
 *   EISCONN       the socket is already connected.
 *   EINVAL        the socket is already bound (connectx does the binding). A TCP socket bound
 *                 to an address alone (IP_BIND_ADDRESS_NO_PORT, port 0) passes: a source IP
 *                 replaces that address as a second bind(2) would; without one connect() keeps it.
 *   ENODEV        opts->ifindex names no interface of the socket's network namespace.
 *   EADDRNOTAVAIL the source address is not local, or not on opts->ifindex.
 * (opts->ifindex is looked up where the socket lives, by rtnetlink: that check can also fail
 * with the netlink errors of the UDP conflict check below.)
 * Errors from the kernel:
 *   EADDRNOTAVAIL TCP: the 4-tuple is taken, or no port of the range is free toward dst.
 *   EADDRINUSE    TCP: the fixed source port is held by a listener or by a socket without
 *                 SO_REUSEADDR (the socket is left unbound, SO_REUSEADDR as it was).
 *   EADDRINUSE    UDP: the 4-tuple is taken, or the source port is locked by a concurrent
 *                 connectx() or held by an unconnected socket that would receive the traffic.
 *   EAGAIN        UDP: no free source port toward dst in the usable range.
 *   EINPROGRESS, ECONNREFUSED, ENETUNREACH, ETIMEDOUT, EINTR, EACCES, ... as connect(2).
 * Errors of the UDP conflict check, which fails closed (a port is never assumed free):
 *   EMFILE, ENFILE, ENOBUFS, ENOMEM  the netlink socket could not be created.
 *   EPERM            the socket lives in another network namespace than the calling thread and
 *                    the library may not enter it (setns needs CAP_SYS_ADMIN) to open its netlink
 *                    socket and sysctls there; also any errno of that ioctl(SIOCGSKNS)/setns.
 *                    The same errors end a TCP call with a port range: it needs the namespace's
 *                    ip_local_port_range and reserved ports, and never guesses them.
 *   EPROTONOSUPPORT  the kernel's udp_diag does not answer exact lookups in this namespace (an
 *                    exact lookup of our own bound socket found nothing, and none ever had).
 *   EPROTO           a netlink reply was malformed, truncated or did not match the request; or
 *                    our own bound socket was not found where udp_diag had answered before.
 *   ETIMEDOUT        no netlink reply within the receive timeout (1 s).
 * A UDP port search (src port 0) on kernels before 6.3 (no IP_LOCAL_PORT_RANGE) cannot give back
 * a port whose locked lookup was lost to a concurrent socket: it then fails with EADDRINUSE.
 */
CONNECTX_API int connectx(int fd, const struct sockaddr *src, socklen_t src_len,
                          const struct sockaddr *dst, socklen_t dst_len,
                          const struct connectx_opts *opts);

/*
 * The source address connectx() would give socket `fd` toward `dst` when the caller names none:
 * the routing table's answer to the question connect(2) asks for that socket (its bound device,
 * SO_MARK, owner and IP_TOS; the scope of a link-local `dst`), asked in the socket's network
 * namespace by rtnetlink, never by connecting a throwaway socket. The address is written to
 * `*src` with port 0, IPv4-mapped when `dst` is; nothing is changed on `fd`.
 * Returns 0, or -1 with errno: EBADF, ENOTSOCK, EPROTOTYPE, EAFNOSUPPORT and EINVAL as
 * connectx() checks `fd` and `dst` (`src` NULL is EINVAL); the route's own answer
 * (ENETUNREACH, EHOSTUNREACH, EACCES for a prohibit route, EINVAL for a blackhole,
 * EADDRNOTAVAIL when it names no source); the netlink errors of connectx().
 */
CONNECTX_API int connectx_source(int fd, const struct sockaddr *dst, socklen_t dst_len,
                                 struct sockaddr_storage *src);

/*
 * connectx_budget(): the port budget of one (source IP, destination, protocol) in the calling thread's network
 * namespace, from one SOCK_DIAG census of that protocol's table (IPv4 for AF_INET and
 * IPv4-mapped addresses, IPv6 otherwise):
 *   usable  ports of ip_local_port_range that ip_local_reserved_ports leaves;
 *   used    usable ports that cannot carry a new flow from `src` to `dst`: a socket with that
 *           local port is connected to `dst` from `src` (any state, TIME_WAIT included), or is
 *           not connected (a listener, an unconnected UDP socket) and bound to `src` or to the
 *           wildcard address;
 *   free    usable - used: what connectx() can still open from `src` toward `dst`.
 * `src` is an IP (its port is ignored); `dst` an IP and port. protocol is IPPROTO_TCP or
 * IPPROTO_UDP. Returns 0, or -1 with errno: EINVAL (NULL or short address, dst port 0, protocol
 * not TCP/UDP, a wildcard src or dst), EAFNOSUPPORT (families differ or are not AF_INET/AF_INET6),
 * the errors of reading the sysctls, and the netlink errors of connectx() (EPROTO, ETIMEDOUT,
 * EMFILE, ENOBUFS, ...).
 */
struct connectx_port_budget {
    uint32_t usable;
    uint32_t used;
    uint32_t free;
    uint16_t range_lo; /* ip_local_port_range, inclusive */
    uint16_t range_hi;
};
CONNECTX_API int connectx_budget(int protocol, const struct sockaddr *src, socklen_t src_len,
                                 const struct sockaddr *dst, socklen_t dst_len,
                                 struct connectx_port_budget *out);

/*
 * Per-process counters of the library since it was loaded, kept with relaxed atomics: each is
 * exact, the set is not one instant's snapshot. `size` (in) is sizeof(struct connectx_counters)
 * as the caller knows it; fields past it are not written (it may only grow by appending).
 */
struct connectx_counters {
    uint32_t size;
    uint32_t reserved_;
    uint64_t calls;            /* connectx() calls */
    uint64_t failures;         /* calls that returned -1, EINPROGRESS excepted */
    uint64_t by_technique[8];  /* successful calls (EINPROGRESS included) by connectx_technique */
    uint64_t lookups;          /* SOCK_DIAG conflict lookups the calls made */
    uint64_t eagain;           /* UDP searches that found no free port toward dst (EAGAIN) */
    uint64_t eaddrnotavail;    /* TCP attempts that found no free port or 4-tuple */
    uint64_t fail_closed;      /* calls refused because the conflict check could not answer:
                                  UDP (and TCP with a port range) calls ending in EPROTO,
                                  EPROTONOSUPPORT, EMFILE, ENFILE, ENOBUFS, ENOMEM, or, for UDP,
                                  ETIMEDOUT */
    uint64_t pool_moves;       /* pool entries passed over because exhausted toward dst */
};
/* Fills `out` up to out->size. Returns 0, or -1 with EINVAL (NULL, or size below 8). */
CONNECTX_API int connectx_counters_read(struct connectx_counters *out);

/* Name of a technique ("connect", "bind-no-port", ...); "unknown" for other values. */
CONNECTX_API const char *connectx_technique_name(uint32_t technique);

#ifdef __cplusplus
}
#endif

#endif /* CONNECTX_CONNECTX_H */
