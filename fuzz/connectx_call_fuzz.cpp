// connectx_call_fuzz.cpp - libFuzzer target for the C entry point connectx(3), the whole library
// linked in, run in a private network namespace (call_env.hpp). Each input is one call: the
// socket (TCP or UDP, IPv4, dual-stack or IPV6_V6ONLY, non-blocking, in some state; or an fd that
// is no such socket), up to three other sockets holding addresses and ports the call may want,
// src and dst sockaddrs of any length and bytes, and opts of any size and content whose result
// pointer may overlay src or dst. Each input the library reads ends at the edge of guarded
// memory, so a read past a stated length faults. The call must return 0 or -1 with a documented
// errno, follow the extensible-struct rule for opts->size, leave the fds as they were (but for the
// library's own netlink sockets and sysctl files, which must not grow in number), write nothing
// it only reads, and after a failure leave the socket unconnected with its options as they were.
#include <arpa/inet.h>
#include <connectx/connectx.h>
#include <fcntl.h>
#include <fuzzer/FuzzedDataProvider.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <vector>

#include "call_env.hpp"

#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51  // Linux 6.3
#endif

namespace {

using cxfuzz::fd_bits;
using cxfuzz::guarded_page;
using cxfuzz::open_fd_set;

// --- the world the calls run in ----------------------------------------------------------------

// Addresses the inputs pick from: local, wildcard, broadcast, multicast, unreachable, link-local,
// and the IPv4-mapped and -compatible forms of the special IPv4 ones. Index 0 is a plain
// destination, so that a short input still makes a call that gets somewhere.
constexpr const char* kV4Addrs[] = {"127.0.0.2",       "127.0.0.1", "0.0.0.0",   "127.1.2.3",
                                    "255.255.255.255", "224.0.0.1", "192.0.2.1", "10.0.0.1"};
constexpr const char* kV6Addrs[] = {"::ffff:127.0.0.2",
                                    "::1",
                                    "::",
                                    "::ffff:0.0.0.0",
                                    "2001:db8::1",
                                    "2001:db8::2",
                                    "fe80::1",
                                    "fe80::2",
                                    "ff02::1",
                                    "ff05::2",
                                    "::ffff:127.0.0.1",
                                    "::127.0.0.1",
                                    "::ffff:255.255.255.255",
                                    "::ffff:224.0.0.1",
                                    "64:ff9b::7f00:2",
                                    "::ffff:192.0.2.1"};
constexpr uint16_t kPorts[] = {
    7000, 0,    cxfuzz::kRangeLo, cxfuzz::kRangeLo + 1, cxfuzz::kReservedPort, cxfuzz::kRangeHi,
    5000, 65535};

constexpr size_t kMaxSockaddr = sizeof(sockaddr_storage) + 8;
// This build's layout (48 bytes: the pool's), and the first published one (size .. result).
constexpr uint32_t kOptsSize = sizeof(connectx_opts);
constexpr uint32_t kFirstLayout = 24;
constexpr uint8_t kResultFill = 0xA5;

struct world {
    int second_ifindex = 0;
    std::vector<in_addr> v4;
    std::vector<in6_addr> v6;
    guarded_page src_page, dst_page, opts_page, result_page;
    fd_bits library_fds;        // netlink sockets and sysctl files the library keeps
    size_t library_fd_cap = 0;  // their number after the warm-up calls
};
world* g;

// --- reporting ----------------------------------------------------------------------------------

[[noreturn]] void violated(const char* what);

// --- the fds the process holds ------------------------------------------------------------------

// A netlink socket or one of the two sysctl files connectx keeps open per namespace, or the
// calling thread's io_uring (src/sock_ops.hpp).
bool library_kind(int fd) {
    int domain = 0;
    socklen_t len = sizeof domain;
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0) return domain == AF_NETLINK;
    char path[64], target[128] = {};
    std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    if (readlink(path, target, sizeof target - 1) < 0) return false;
    const char sysctls[] = "/proc/sys/net/ipv4/ip_local_";
    return std::strncmp(target, sysctls, sizeof sysctls - 1) == 0 ||
           std::strcmp(target, "anon_inode:[io_uring]") == 0;
}

// The fds after a call against those before: every new one is the library's, every one gone was
// the library's, and the library holds no more than after the warm-up calls.
void check_fds(const fd_bits& before) {
    fd_bits after = open_fd_set();
    for (size_t fd = 0; fd < after.size(); ++fd) {
        if (after[fd] == before[fd]) continue;
        if (before[fd] && !g->library_fds[fd]) violated("an fd of the caller's was closed");
        if (after[fd] && !library_kind(int(fd))) {
            cxfuzz::print_open_fds();
            violated("fd leaked (neither a netlink socket nor a sysctl file)");
        }
        g->library_fds[fd] = after[fd];
    }
    if (g->library_fds.count() > g->library_fd_cap) {
        cxfuzz::print_open_fds();
        violated("the library holds more netlink sockets or sysctl files than after warm-up");
    }
}

// --- sockets ------------------------------------------------------------------------------------

int setopt(int fd, int level, int name, int v) {
    return setsockopt(fd, level, name, &v, sizeof v);
}
int getopt(int fd, int level, int name, int dflt) {
    int v = 0;
    socklen_t len = sizeof v;
    return getsockopt(fd, level, name, &v, &len) == 0 ? v : dflt;
}

// Closes a socket made here; TCP ones with a reset (SO_LINGER 0), so that no TIME_WAIT keeps a
// port of the small range from the next inputs.
void close_socket(int fd) {
    linger l{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd);
}

// A structured address of `family` from the tables: address, port, and for IPv6 a scope id and
// flow label.
socklen_t table_address(FuzzedDataProvider& in, int family, sockaddr_storage& ss) {
    std::memset(&ss, 0, sizeof ss);
    uint16_t port = kPorts[in.ConsumeIntegral<uint8_t>() % std::size(kPorts)];
    if (family == AF_INET) {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        a->sin_addr = g->v4[in.ConsumeIntegral<uint8_t>() % g->v4.size()];
        return sizeof *a;
    }
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    a->sin6_addr = g->v6[in.ConsumeIntegral<uint8_t>() % g->v6.size()];
    const uint32_t scopes[] = {0, 1, uint32_t(g->second_ifindex), 99};
    uint8_t s = in.ConsumeIntegral<uint8_t>();
    a->sin6_scope_id = s < 200 ? scopes[s % 4] : in.ConsumeIntegral<uint32_t>();
    if (in.ConsumeIntegral<uint8_t>() > 240) a->sin6_flowinfo = in.ConsumeIntegral<uint32_t>();
    return sizeof *a;
}

// connect(2) of a non-blocking socket, and its outcome awaited (up to 20 ms: loopback answers in
// microseconds, a destination that drops the SYN never), so that no handshake or reset lands
// between the checks of one input. False when the connect failed.
bool connect_settled(int fd, const sockaddr_storage& to, socklen_t len) {
    if (connect(fd, reinterpret_cast<const sockaddr*>(&to), len) == 0) return true;
    if (errno != EINPROGRESS) return false;
    pollfd p{fd, POLLOUT, 0};
    poll(&p, 1, 20);
    return getopt(fd, SOL_SOCKET, SO_ERROR, 0) == 0;  // reads and clears a pending error
}

// State the caller gave the socket before the call, by bits of the input. False when that
// included a failed connect(2), after which the socket's state is unspecified (a TCP socket shows
// its released port to getsockname, for one).
bool prepare_socket(FuzzedDataProvider& in, int fd, int family, int protocol) {
    if (in.ConsumeIntegral<uint8_t>() < 128) return true;
    const uint16_t bits = in.ConsumeIntegral<uint16_t>();
    if (bits & 0x001) setopt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    if (bits & 0x002) setopt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
    if (bits & 0x004) setopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1);
    if (bits & 0x008) {
        const int devices[] = {1, g->second_ifindex, 99, 0};
        setopt(fd, SOL_SOCKET, SO_BINDTOIFINDEX, devices[in.ConsumeIntegral<uint8_t>() % 4]);
    }
    if (bits & 0x010) setopt(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, in.ConsumeIntegral<int>());
    if (bits & 0x200) setopt(fd, SOL_SOCKET, SO_BROADCAST, 1);
    sockaddr_storage ss;
    if (bits & 0x020) {
        socklen_t len = table_address(in, family, ss);
        bind(fd, reinterpret_cast<sockaddr*>(&ss), len);
    }
    bool fine = true;
    if (bits & 0x040) {
        socklen_t len = table_address(in, family, ss);
        fine = connect_settled(fd, ss, len);
    }
    if ((bits & 0x080) && protocol == IPPROTO_TCP) listen(fd, 4);
    return fine;
}

int ip_socket(int family, int protocol, bool v6only) {
    int fd = socket(
        family, (protocol == IPPROTO_TCP ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC,
        protocol);
    if (fd >= 0 && family == AF_INET6) setopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, v6only);
    return fd;
}

// Sockets that hold addresses, ports and 4-tuples the call may want: TCP listeners or
// connections, UDP sockets bound or connected, with or without SO_REUSEADDR/SO_REUSEPORT or a
// device.
void make_neighbours(FuzzedDataProvider& in, std::vector<int>& fds) {
    int n = in.ConsumeIntegralInRange(0, 3);
    for (int i = 0; i < n; ++i) {
        const uint8_t spec = in.ConsumeIntegral<uint8_t>();
        const int protocol = spec & 0x01 ? IPPROTO_TCP : IPPROTO_UDP;
        const int family = spec & 0x02 ? AF_INET6 : AF_INET;
        int fd = ip_socket(family, protocol, spec & 0x40);
        if (fd < 0) continue;
        fds.push_back(fd);
        if (spec & 0x04) setopt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
        if (spec & 0x08) setopt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
        if (spec & 0x20) setopt(fd, SOL_SOCKET, SO_BINDTOIFINDEX, 1);
        sockaddr_storage ss;
        socklen_t len = table_address(in, family, ss);
        bind(fd, reinterpret_cast<sockaddr*>(&ss), len);
        if (spec & 0x10) {
            len = table_address(in, family, ss);
            connect_settled(fd, ss, len);
        } else if (protocol == IPPROTO_TCP) {
            listen(fd, 4);
        }
    }
}

// The fd handed to connectx.
struct subject {
    int fd = -1;
    bool owned = false;     // made here, closed after the call
    int family = AF_INET;   // the family its addresses are drawn from
    bool specified = true;  // not after a failed connect(2) (see prepare_socket)
};

// Something that is not a TCP or UDP socket of AF_INET/AF_INET6, or no open fd at all.
subject odd_subject(FuzzedDataProvider& in, uint8_t which) {
    subject s;
    s.owned = true;
    s.family = which & 0x80 ? AF_INET6 : AF_INET;
    switch (which % 8) {
        case 0:  // a number just closed
            s.fd = eventfd(0, EFD_CLOEXEC);
            close(s.fd);
            s.owned = false;
            break;
        case 1:
            s.fd = eventfd(0, EFD_CLOEXEC);
            break;
        case 2:
            s.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            break;
        case 3:
            s.fd = socket(s.family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
                          which & 0x40 ? IPPROTO_TCP : IPPROTO_UDP);
            break;
        case 4:
            s.fd = socket(s.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_MPTCP);
            break;
        case 5:
            s.fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
            break;
        case 6:  // any small number: stdio, the fuzzer's files, the library's netlink sockets...
            s.fd = in.ConsumeIntegralInRange(0, 63);
            s.owned = false;
            break;
        default:
            s.fd = which & 0x40 ? -1 : 0x7fffffff;
            s.owned = false;
            break;
    }
    return s;
}

subject make_subject(FuzzedDataProvider& in) {
    const uint8_t kind = in.ConsumeIntegral<uint8_t>();
    if (kind >= 208) return odd_subject(in, in.ConsumeIntegral<uint8_t>());
    subject s;
    s.owned = true;
    const int protocol = kind % 2 ? IPPROTO_TCP : IPPROTO_UDP;
    s.family = (kind / 2) % 3 == 0 ? AF_INET : AF_INET6;
    s.fd = ip_socket(s.family, protocol, (kind / 2) % 3 == 2);
    if (s.fd >= 0) s.specified = prepare_socket(in, s.fd, s.family, protocol);
    return s;
}

// IPPROTO_TCP or IPPROTO_UDP when `fd` is such a socket of AF_INET/AF_INET6, else 0.
int ip_protocol(int fd) {
    int domain = getopt(fd, SOL_SOCKET, SO_DOMAIN, -1);
    int type = getopt(fd, SOL_SOCKET, SO_TYPE, -1);
    int protocol = getopt(fd, SOL_SOCKET, SO_PROTOCOL, -1);
    if (domain != AF_INET && domain != AF_INET6) return 0;
    if (type == SOCK_STREAM && protocol == IPPROTO_TCP) return IPPROTO_TCP;
    if (type == SOCK_DGRAM && protocol == IPPROTO_UDP) return IPPROTO_UDP;
    return 0;
}

// --- the arguments ------------------------------------------------------------------------------

// A sockaddr as the caller passes it: bytes and a length (which may exceed what was filled), or
// NULL.
struct sockaddr_arg {
    bool null = false;
    uint8_t bytes[kMaxSockaddr] = {};
    socklen_t len = 0;
};

sockaddr_arg decode_sockaddr(FuzzedDataProvider& in, int family, bool may_be_null) {
    sockaddr_arg a;
    const uint8_t mode = in.ConsumeIntegral<uint8_t>();
    sockaddr_storage ss;
    switch (mode % 8) {
        case 0:
        case 1:
        case 2:
        case 3:  // the socket's family, its natural length
            a.len = table_address(in, family, ss);
            break;
        case 4:  // the other family
            a.len = table_address(in, family == AF_INET ? AF_INET6 : AF_INET, ss);
            break;
        case 5:  // any length, from 0 to past a sockaddr_storage
            table_address(in, mode & 0x80 ? AF_INET6 : AF_INET, ss);
            a.len = in.ConsumeIntegralInRange<socklen_t>(0, kMaxSockaddr);
            break;
        case 6: {  // raw bytes, family included
            a.len = in.ConsumeIntegralInRange<socklen_t>(0, kMaxSockaddr);
            std::vector<uint8_t> raw = in.ConsumeBytes<uint8_t>(a.len);
            if (!raw.empty()) std::memcpy(a.bytes, raw.data(), raw.size());
            return a;
        }
        default:
            if (may_be_null && !(mode & 0x80)) {
                a.null = true;
                return a;
            }
            a.len = table_address(in, family, ss);
            ss.ss_family = in.ConsumeIntegral<uint16_t>();  // a family no socket has, mostly
            break;
    }
    std::memcpy(a.bytes, &ss, sizeof ss);
    return a;
}

// Where opts->result points.
enum class result_at { none, own, over_dst_remote, over_dst_local, over_src_local, over_both };

struct opts_arg {
    bool null = true;
    uint32_t size = 0;
    connectx_opts fields{};
    std::vector<uint8_t> tail;  // bytes past the known layout, size - 24 of them
    bool tail_nonzero = false;
    result_at result = result_at::none;
};

uint32_t decode_size(FuzzedDataProvider& in, uint8_t mode) {
    switch (mode % 8) {
        case 4:
            // Below the first layout, or between it and this build's.
            return in.ConsumeIntegralInRange<uint32_t>(0, kOptsSize - 1);
        case 5:
            return in.ConsumeIntegralInRange<uint32_t>(kOptsSize + 1, 64);
        case 6:
            return in.ConsumeIntegralInRange<uint32_t>(0, guarded_page::kPage);
        case 7:
            return in.ConsumeIntegralInRange<uint32_t>(kOptsSize, 512);
        default:
            return kOptsSize;
    }
}

void decode_fields(FuzzedDataProvider& in, connectx_opts& o) {
    uint8_t m = in.ConsumeIntegral<uint8_t>();
    o.flags = m % 4 == 0   ? in.ConsumeIntegral<uint32_t>()
              : m % 4 == 1 ? CONNECTX_F_EXPLICIT_PORTS
                           : 0;
    m = in.ConsumeIntegral<uint8_t>();
    if (m % 4 == 2) {
        o.port_lo = kPorts[in.ConsumeIntegral<uint8_t>() % std::size(kPorts)];
        o.port_hi = kPorts[in.ConsumeIntegral<uint8_t>() % std::size(kPorts)];
    } else if (m % 4 == 3) {
        o.port_lo = in.ConsumeIntegral<uint16_t>();
        o.port_hi = in.ConsumeIntegral<uint16_t>();
    }
    m = in.ConsumeIntegral<uint8_t>();
    const int32_t devices[] = {0, 0, 0, 0, 0, 1, g->second_ifindex, 99};
    o.ifindex = m < 240 ? devices[m % 8] : in.ConsumeIntegral<int32_t>();
}

opts_arg decode_opts(FuzzedDataProvider& in) {
    opts_arg o;
    const uint8_t mode = in.ConsumeIntegral<uint8_t>();
    if (mode % 4 == 0) return o;
    o.null = false;
    o.size = decode_size(in, mode / 4);
    decode_fields(in, o.fields);
    o.result = static_cast<result_at>(in.ConsumeIntegral<uint8_t>() % 6);
    if (o.size > kOptsSize) {
        o.tail.assign(o.size - kOptsSize, 0);
        int nonzero = in.ConsumeIntegral<uint8_t>() < 200 ? 0 : in.ConsumeIntegralInRange(1, 3);
        for (int i = 0; i < nonzero; ++i)
            o.tail[in.ConsumeIntegralInRange<size_t>(0, o.tail.size() - 1)] =
                in.ConsumeIntegralInRange<uint8_t>(1, 255);
        for (uint8_t b : o.tail) o.tail_nonzero |= b != 0;
    }
    return o;
}

// --- the call as placed in memory ---------------------------------------------------------------

struct placed_call {
    const sockaddr* src = nullptr;
    socklen_t src_len = 0;
    const sockaddr* dst = nullptr;
    socklen_t dst_len = 0;
    const connectx_opts* opts = nullptr;
    connectx_result* result = nullptr;      // opts->result, when `size` covers that field
    connectx_result* result_buf = nullptr;  // the result page, filled with kResultFill
    bool aliased = false;                   // result overlays src or dst
    uint8_t* opts_bytes = nullptr;
    size_t opts_len = 0;
};

const sockaddr* place_sockaddr(const sockaddr_arg& a, guarded_page& page, uint8_t* over) {
    if (a.null) return nullptr;
    uint8_t* at = over ? over : page.place(a.len);
    std::memcpy(at, a.bytes, a.len);
    return reinterpret_cast<const sockaddr*>(at);
}

// Lays the arguments out: each input ends at a guard (or overlays the result, as asked); opts
// is exactly max(size, 4) bytes (its size field must be readable to be checked).
placed_call place(const sockaddr_arg& src, const sockaddr_arg& dst, const opts_arg& o) {
    placed_call c;
    auto* res = reinterpret_cast<connectx_result*>(g->result_page.place(sizeof(connectx_result)));
    std::memset(res, kResultFill, sizeof *res);
    auto* local = reinterpret_cast<uint8_t*>(&res->local);
    auto* remote = reinterpret_cast<uint8_t*>(&res->remote);
    // src overlays result->local only where it ends before result->remote, which dst may take.
    const bool src_over =
        (o.result == result_at::over_src_local || o.result == result_at::over_both) &&
        src.len <= sizeof res->local;
    uint8_t* dst_over = o.result == result_at::over_dst_remote || o.result == result_at::over_both
                            ? remote
                        : o.result == result_at::over_dst_local ? local
                                                                : nullptr;
    c.src = place_sockaddr(src, g->src_page, src_over ? local : nullptr);
    c.dst = place_sockaddr(dst, g->dst_page, dst_over);
    c.src_len = src.len;
    c.dst_len = dst.len;
    c.aliased = (src_over && !src.null) || (dst_over && !dst.null);
    c.result_buf = res;
    if (o.null) return c;
    connectx_opts head = o.fields;
    head.size = o.size;
    head.result = o.result == result_at::none ? nullptr : res;
    if (o.size >= kFirstLayout) c.result = head.result;
    c.opts_len = std::max<size_t>(o.size, sizeof head.size);
    c.opts_bytes = g->opts_page.place(c.opts_len);
    std::memcpy(c.opts_bytes, &head, std::min<size_t>(c.opts_len, sizeof head));
    if (!o.tail.empty()) std::memcpy(c.opts_bytes + sizeof head, o.tail.data(), o.tail.size());
    c.opts = reinterpret_cast<const connectx_opts*>(c.opts_bytes);
    return c;
}

// --- the socket before and after ----------------------------------------------------------------

struct sock_state {
    bool connected = false;
    int reuse = -1, device = -1, no_port = -1, port_range = -1;
    uint16_t local_port = 0, peer_port = 0;
    int local_scope = 0;  // of a link-local local address: the link it is bound to
};

uint16_t port_of(const sockaddr_storage& ss) {
    if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(ss).sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(ss).sin6_port);
    return 0;
}

sock_state read_state(int fd) {
    sock_state s;
    s.reuse = getopt(fd, SOL_SOCKET, SO_REUSEADDR, -1);
    s.device = getopt(fd, SOL_SOCKET, SO_BINDTOIFINDEX, -1);
    s.no_port = getopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, -1);
    s.port_range = getopt(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, -1);
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
        s.local_port = port_of(ss);
        if (ss.ss_family == AF_INET6)
            s.local_scope = int(reinterpret_cast<const sockaddr_in6&>(ss).sin6_scope_id);
    }
    len = sizeof ss;
    s.connected = getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0;
    if (s.connected) s.peer_port = port_of(ss);
    return s;
}

// --- reporting ----------------------------------------------------------------------------------

// The current call, printed with any violation (and the input is in libFuzzer's crash file).
struct call_record {
    int fd = -1;
    int protocol = 0;
    int rc = 0;
    int err = 0;
    const sockaddr_arg* src = nullptr;
    const sockaddr_arg* dst = nullptr;
    const opts_arg* opts = nullptr;
    const sock_state* was = nullptr;
    const sock_state* now = nullptr;
};
call_record g_call;

void print_sockaddr(const char* name, const sockaddr_arg* a) {
    if (!a || a->null) {
        std::fprintf(stderr, "  %s NULL\n", name);
        return;
    }
    char text[INET6_ADDRSTRLEN] = "?";
    sockaddr_storage ss{};
    std::memcpy(&ss, a->bytes, std::min(sizeof ss, size_t(a->len)));
    uint32_t scope = 0;
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in&>(ss).sin_addr, text, sizeof text);
    if (ss.ss_family == AF_INET6) {
        auto& s6 = reinterpret_cast<sockaddr_in6&>(ss);
        inet_ntop(AF_INET6, &s6.sin6_addr, text, sizeof text);
        scope = s6.sin6_scope_id;
    }
    std::fprintf(stderr, "  %s family %u len %u: %s port %u scope %u; bytes", name, ss.ss_family,
                 a->len, text, port_of(ss), scope);
    for (socklen_t i = 0; i < a->len; ++i) std::fprintf(stderr, " %02x", a->bytes[i]);
    std::fprintf(stderr, "\n");
}

void print_state(const char* name, const sock_state* st) {
    if (!st) return;
    std::fprintf(stderr,
                 "  %s: connected %d (peer port %u) SO_REUSEADDR %d SO_BINDTOIFINDEX %d "
                 "IP_BIND_ADDRESS_NO_PORT %d IP_LOCAL_PORT_RANGE %#x local port %u\n",
                 name, st->connected, st->peer_port, st->reuse, st->device, st->no_port,
                 unsigned(st->port_range), st->local_port);
}

// The call as decoded, with its outcome and the socket's state around it.
void print_call(const char* what) {
    std::fprintf(stderr, "connectx_call_fuzz: %s\n  fd %d (protocol %d) -> rc %d errno %d (%s)\n",
                 what, g_call.fd, g_call.protocol, g_call.rc, g_call.err,
                 std::strerror(g_call.err));
    print_sockaddr("src", g_call.src);
    print_sockaddr("dst", g_call.dst);
    const opts_arg* o = g_call.opts;
    if (!o || o->null)
        std::fprintf(stderr, "  opts NULL\n");
    else
        std::fprintf(stderr,
                     "  opts size %u flags %#x ports %u-%u ifindex %d result mode %d tail %s\n",
                     o->size, o->fields.flags, o->fields.port_lo, o->fields.port_hi,
                     o->fields.ifindex, int(o->result), o->tail_nonzero ? "non-zero" : "zero");
    print_state("before", g_call.was);
    print_state("after", g_call.now);
}

void violated(const char* what) {
    print_call(what);
    std::abort();
}

// --- the checks ---------------------------------------------------------------------------------

// connectx.h's errnos. `after_failed_connect`: the socket's own earlier connect(2) failed, and
// connect(2) on it again reports ECONNABORTED (TCP_CLOSE, error already read), which connectx
// passes on "as connect(2)".
bool documented_errno(int e, int protocol, bool after_failed_connect) {
    switch (e) {
        case EBADF:
        case ENOTSOCK:
        case EPROTOTYPE:
        case EAFNOSUPPORT:
        case EINVAL:
        case E2BIG:
        case EISCONN:
        case ENODEV:
        case EADDRNOTAVAIL:
        case EADDRINUSE:
        case EAGAIN:
        case ECONNREFUSED:
        case ENETUNREACH:
        case ETIMEDOUT:
        case EINTR:
        case EACCES:
        case EPERM:
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM:
        case EPROTONOSUPPORT:
        case EPROTO:
            return true;
        case EINPROGRESS:
            return protocol == IPPROTO_TCP;
        case ECONNABORTED:
            return protocol == IPPROTO_TCP && after_failed_connect;
        default:
            return false;
    }
}

// The extensible-struct rule: below the first layout EINVAL, unknown non-zero bytes E2BIG, and
// E2BIG for nothing else.
void check_size_rule(const opts_arg& o, int rc, int e) {
    if (!o.null && o.size < kFirstLayout && !(rc == -1 && e == EINVAL))
        violated("opts->size below the first layout did not fail with EINVAL");
    if (!o.null && o.size > kOptsSize && o.tail_nonzero && !(rc == -1 && e == E2BIG))
        violated("opts with non-zero bytes past the known layout did not fail with E2BIG");
    if (rc == -1 && e == E2BIG && (o.null || o.size <= kOptsSize || !o.tail_nonzero))
        violated("E2BIG without non-zero bytes past the known layout");
}

// After a failure: not connected (unless it was), options as they were. A UDP socket left bound
// to a port may keep SO_REUSEADDR=1: bound for good to a port it shares, 0 would lock the other
// flows' peers out (connectx.h, udp_connect.cpp finish()).
void check_after_failure(int protocol, const sock_state& was, const sock_state& now) {
    if (now.connected && !was.connected) violated("connected after a failure");
    if (protocol == IPPROTO_UDP && now.reuse != was.reuse &&
        !(now.local_port != 0 && now.reuse == 1))
        violated("UDP SO_REUSEADDR changed by a failed call");
    if (now.device != was.device) violated("SO_BINDTOIFINDEX changed by a failed call");
    if (now.no_port != was.no_port) violated("IP_BIND_ADDRESS_NO_PORT changed by a failed call");
    if (now.port_range != was.port_range) violated("IP_LOCAL_PORT_RANGE changed by a failed call");
}

uint16_t dst_port_of(const sockaddr_arg& dst) {
    sockaddr_storage ss{};
    std::memcpy(&ss, dst.bytes, std::min(sizeof ss, size_t(dst.len)));
    return port_of(ss);
}

// The scope id of an IPv6 sockaddr, 0 for anything else.
int scope_of(const sockaddr_arg& a) {
    if (a.null || a.len < sizeof(sockaddr_in6)) return 0;
    sockaddr_in6 s6;
    std::memcpy(&s6, a.bytes, sizeof s6);
    return s6.sin6_family == AF_INET6 ? int(s6.sin6_scope_id) : 0;
}

// After a success (or TCP's EINPROGRESS): the socket's own port range as the caller set it, the
// device the caller's, opts->ifindex's or a scope's (bind(2) and connect(2) of a link-local
// address bind the socket to its link, whether the caller or the route chose that address), UDP
// connected to dst's port and its IP_BIND_ADDRESS_NO_PORT as it was.
void check_after_success(int protocol, int rc, const sock_state& was, const sock_state& now,
                         const opts_arg& o, const sockaddr_arg& src, const sockaddr_arg& dst) {
    if (now.port_range != was.port_range) violated("IP_LOCAL_PORT_RANGE not as the caller set it");
    const int ifindex = o.null ? 0 : o.fields.ifindex;
    auto given = [&](int device) { return device != 0 && now.device == device; };
    if (now.device != was.device && !given(ifindex) && !given(scope_of(src)) &&
        !given(scope_of(dst)) && !given(now.local_scope))
        violated("SO_BINDTOIFINDEX is none of the caller's, opts->ifindex and a scope id");
    const uint16_t dst_port = dst_port_of(dst);
    if (protocol != IPPROTO_UDP) return;
    if (rc != 0) violated("UDP returned -1 with EINPROGRESS");
    if (!now.connected || now.peer_port != dst_port)
        violated("UDP success but not connected to dst");
    if (now.no_port != was.no_port) violated("IP_BIND_ADDRESS_NO_PORT changed by a UDP call");
}

// What opts->result reports after a success: a known technique, the reserved word zero, the local
// port the socket has and the destination's port.
void check_result(const connectx_result& r, const sock_state& now, uint16_t dst_port) {
    if (r.technique < CONNECTX_TECH_CONNECT || r.technique > CONNECTX_TECH_UDP_ALONE)
        violated("result->technique is not a known technique");
    if (r.reserved_ != 0) violated("result->reserved_ is not zero");
    if (port_of(r.local) != now.local_port) violated("result->local is not the socket's port");
    if (port_of(r.remote) != dst_port) violated("result->remote is not dst's port");
}

// Bytes the library may only read are as they were.
void check_inputs_untouched(const placed_call& c, const sockaddr_arg& src, const sockaddr_arg& dst,
                            const std::vector<uint8_t>& opts_copy) {
    if (c.aliased) return;
    if (c.src && std::memcmp(c.src, src.bytes, src.len) != 0) violated("src was written");
    if (c.dst && std::memcmp(c.dst, dst.bytes, dst.len) != 0) violated("dst was written");
    if (c.opts && std::memcmp(c.opts_bytes, opts_copy.data(), c.opts_len) != 0)
        violated("opts was written");
}

// The same call again, the result overlaying src/dst as `o` says: 0 or the errno.
int call_again(int fd, const sockaddr_arg& src, const sockaddr_arg& dst, const opts_arg& o) {
    placed_call c = place(src, dst, o);
    fd_bits before = open_fd_set();
    int rc = connectx(fd, c.src, c.src_len, c.dst, c.dst_len, c.opts);
    int e = rc == 0 ? 0 : errno;
    check_fds(before);
    return e;
}

// A call whose result overlays src or dst and failed as bad input must fail the same way with
// the result elsewhere: the library reads every input before it writes any output. (Bad input
// leaves the socket as it was, so the calls see the same socket.) Both are made after the first
// call: which of two faults of one call is reported may depend on the protocol of the previous
// call (validate.cpp's g_last_protocol).
void check_alias_independent(int fd, const sockaddr_arg& src, const sockaddr_arg& dst,
                             const opts_arg& o) {
    opts_arg apart = o;
    apart.result = result_at::own;
    const int e_apart = call_again(fd, src, dst, apart);
    const int e_over = call_again(fd, src, dst, o);
    if (e_apart != e_over) {
        std::fprintf(stderr, "  again: overlaid errno %d (%s), apart errno %d (%s)\n", e_over,
                     std::strerror(e_over), e_apart, std::strerror(e_apart));
        violated("the result overlaying src/dst changed the outcome");
    }
}

// --- one input ----------------------------------------------------------------------------------

void run_call(const subject& s, const sockaddr_arg& src, const sockaddr_arg& dst,
              const opts_arg& o) {
    const int protocol = ip_protocol(s.fd);
    g_call = {s.fd, protocol, 0, 0, &src, &dst, &o, nullptr, nullptr};
    placed_call c = place(src, dst, o);
    std::vector<uint8_t> opts_copy(c.opts_bytes, c.opts_bytes + c.opts_len);
    const sock_state was = protocol ? read_state(s.fd) : sock_state{};
    if (protocol) g_call.was = &was;
    fd_bits before = open_fd_set();
    errno = 0;
    const int rc = connectx(s.fd, c.src, c.src_len, c.dst, c.dst_len, c.opts);
    const int e = rc == 0 ? 0 : errno;
    g_call.rc = rc;
    g_call.err = e;
    check_fds(before);
    if (rc != 0 && rc != -1) violated("returned neither 0 nor -1");
    if (rc == -1 && !documented_errno(e, protocol, !s.specified))
        violated("errno not in connectx.h's list");
    check_size_rule(o, rc, e);
    check_inputs_untouched(c, src, dst, opts_copy);
    if (!o.null && o.size < kFirstLayout && o.result == result_at::own) {
        // The result pointer was past `size`: the call could not know it, let alone write there.
        const auto* res = reinterpret_cast<const uint8_t*>(c.result_buf);
        for (size_t i = 0; i < sizeof(connectx_result); ++i)
            if (res[i] != kResultFill) violated("result written through a pointer past size");
    }
    sock_state now;
    if (protocol) {
        now = read_state(s.fd);
        g_call.now = &now;
        if (rc == -1 && e != EINPROGRESS && e != EINTR) check_after_failure(protocol, was, now);
        if (rc == 0 || e == EINPROGRESS) {
            check_after_success(protocol, rc, was, now, o, src, dst);
            if (c.result) check_result(*c.result, now, dst_port_of(dst));
        }
    }
    if (c.aliased && c.result && rc == -1 && (e == EINVAL || e == EAFNOSUPPORT) && s.specified)
        check_alias_independent(s.fd, src, dst, o);
    // CXFUZZ_PRINT=1 shows what each input decodes to (to read a reproducer or pick seeds).
    static const bool print = std::getenv("CXFUZZ_PRINT") != nullptr;
    if (print) print_call("call");
}

// One call of each kind that makes the library open what it keeps per namespace: the netlink
// sockets (SOCK_DIAG and ROUTE), the route monitor and the two sysctl files; and enough UDP calls
// for this thread's io_uring (made after a thread's first 64 batches). Later calls may reuse
// these, never need more.
void warm_library_cache() {
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(7000);
    inet_pton(AF_INET, "127.0.0.2", &dst.sin_addr);
    connectx_opts o{};
    o.size = sizeof o;
    o.port_lo = cxfuzz::kRangeLo;
    o.port_hi = cxfuzz::kRangeHi;
    for (int i = 0; i < 3; ++i) {
        int fd = ip_socket(AF_INET, i == 1 ? IPPROTO_TCP : IPPROTO_UDP, false);
        o.flags = i == 1 ? CONNECTX_F_EXPLICIT_PORTS : 0;
        o.ifindex = i == 2 ? 1 : 0;
        connectx(fd, nullptr, 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst, i ? &o : nullptr);
        close_socket(fd);
    }
    for (int i = 0; i < 100; ++i) {
        int fd = ip_socket(AF_INET, IPPROTO_UDP, false);
        connectx(fd, nullptr, 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst, nullptr);
        close_socket(fd);
    }
}

template <class T>
std::vector<T> parse_all(int family, const char* const* texts, size_t n) {
    std::vector<T> out(n);
    for (size_t i = 0; i < n; ++i)
        if (inet_pton(family, texts[i], &out[i]) != 1) std::abort();
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    g = new world;
    g->second_ifindex = cxfuzz::enter_private_netns();
    g->v4 = parse_all<in_addr>(AF_INET, kV4Addrs, std::size(kV4Addrs));
    g->v6 = parse_all<in6_addr>(AF_INET6, kV6Addrs, std::size(kV6Addrs));
    fd_bits before = open_fd_set();
    warm_library_cache();
    fd_bits after = open_fd_set();
    for (size_t fd = 0; fd < after.size(); ++fd)
        if (after[fd] && !before[fd] && library_kind(int(fd))) g->library_fds.set(fd);
    g->library_fd_cap = g->library_fds.count();
    std::fprintf(stderr, "connectx_call_fuzz: private namespace ready; the library keeps %zu fds\n",
                 g->library_fd_cap);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    FuzzedDataProvider in(data, size);
    std::vector<int> neighbours;
    make_neighbours(in, neighbours);
    subject s = make_subject(in);
    opts_arg o = decode_opts(in);
    sockaddr_arg src = decode_sockaddr(in, s.family, true);
    sockaddr_arg dst = decode_sockaddr(in, s.family, false);
    if (in.ConsumeIntegral<uint8_t>() == 255) dst.null = true;
    run_call(s, src, dst, o);
    if (s.owned && s.fd >= 0) close_socket(s.fd);
    for (int fd : neighbours) close_socket(fd);
    return 0;
}
