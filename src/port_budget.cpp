// port_budget.cpp - the port budget per (source IP, destination): a SOCK_DIAG census of the
// calling thread's namespace, counted against its ip_local_port_range and reserved ports.
// Behind connectx_budget(3), cx::budget() and cx::port_census() (connectx-ports(1)).
#include "port_budget.hpp"

#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <connectx/connectx.hpp>
#include <cstring>
#include <memory>
#include <new>

#include "nl_socket.hpp"
#include "owned_fds.hpp"
#include "request.hpp"

namespace cx::detail {
namespace {

constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
// Dump datagrams are at most 32 KiB (see sock_diag.cpp).
constexpr size_t kDumpReplyMax = 32768;

bool is_mapped(const uint8_t* ip16) {
    return std::memcmp(ip16, kMappedPrefix, 12) == 0;
}
bool all_zero(const uint8_t* p, size_t n) {
    return std::all_of(p, p + n, [](uint8_t b) { return b == 0; });
}

ip_key key_of(int family, const uint8_t* ip) {
    ip_key k;
    if (family == AF_INET6 && is_mapped(ip)) {
        k.family = AF_INET;
        std::memcpy(k.ip.data(), ip + 12, 4);
    } else {
        k.family = family;
        std::memcpy(k.ip.data(), ip, family == AF_INET ? 4 : 16);
    }
    return k;
}

// A dump of every `family` socket of `protocol`, any state: no filter, the census counts all.
size_t build_dump_all(void* buf, size_t cap, uint32_t seq, int family, int protocol) {
    if (cap < MNL_NLMSG_HDRLEN + sizeof(inet_diag_req_v2)) return 0;
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    nlh->nlmsg_seq = seq;
    auto* r =
        static_cast<inet_diag_req_v2*>(mnl_nlmsg_put_extra_header(nlh, sizeof(inet_diag_req_v2)));
    r->sdiag_family = uint8_t(family);
    r->sdiag_protocol = uint8_t(protocol);
    r->idiag_states = ~0u;
    return nlh->nlmsg_len;
}

struct census_ctx {
    census* c;
    bool failed = false;
};

void on_entry(const diag_entry& e, void* ctx) {
    auto* x = static_cast<census_ctx*>(ctx);
    if (x->failed) return;
    try {
        census_add(*x->c, e);
    } catch (const std::bad_alloc&) {
        x->failed = true;
    }
}

int dump_family(const nl_socket& nl, uint32_t seq, int family, int protocol, census& out) {
    alignas(nlmsghdr) uint8_t req[MNL_NLMSG_HDRLEN + sizeof(inet_diag_req_v2)];
    size_t n = build_dump_all(req, sizeof req, seq, family, protocol);
    if (int e = nl_send(nl.fd, req, n)) return e;
    std::unique_ptr<uint8_t[]> reply(new (std::nothrow) uint8_t[kDumpReplyMax]);
    if (!reply) return ENOMEM;
    census_ctx ctx{&out};
    for (bool done = false; !done;) {
        size_t got;
        if (int e = nl_recv(nl.fd, reply.get(), kDumpReplyMax, got)) return e;
        if (int e = sock_diag_parse_dump(reply.get(), got, seq, nl.portid, on_entry, &ctx, done))
            return e;
    }
    return ctx.failed ? ENOMEM : 0;
}

}  // namespace

bool ip_key::is_wildcard() const noexcept {
    return all_zero(ip.data(), ip.size());
}

void census_add(census& c, const diag_entry& e) {
    const bool connected = e.remote_port != 0 || !all_zero(e.remote, sizeof e.remote);
    ip_key local = key_of(e.family, e.local);
    if (!connected) {
        c.unconnected[local].push_back(e.local_port);
        return;
    }
    pair_key k{local, key_of(e.family, e.remote), e.remote_port};
    c.connected[k].push_back(e.local_port);
}

uint32_t census_used(const census& c, const pair_key& pair, port_span range,
                     const reserved_ports& reserved) noexcept {
    std::array<uint64_t, 1024> held{};
    uint32_t n = 0;
    auto mark = [&](const std::vector<uint16_t>& ports) {
        for (uint16_t p : ports) {
            if (!range.contains(p) || reserved.test(p)) continue;
            uint64_t bit = uint64_t(1) << (p & 63);
            if (held[p >> 6] & bit) continue;
            held[p >> 6] |= bit;
            ++n;
        }
    };
    if (auto it = c.connected.find(pair); it != c.connected.end()) mark(it->second);
    if (auto it = c.unconnected.find(pair.src); it != c.unconnected.end()) mark(it->second);
    ip_key wildcard{pair.src.family, {}};
    if (auto it = c.unconnected.find(wildcard); it != c.unconnected.end()) mark(it->second);
    return n;
}

int take_census(int protocol, census& out) noexcept {
    nl_socket nl;
    if (int e = nl_open(NETLINK_SOCK_DIAG, nl)) return e;
    int e = dump_family(nl, nl.seq, AF_INET, protocol, out);
    if (e == 0) e = dump_family(nl, nl.seq + 1, AF_INET6, protocol, out);
    owned_fd_close(nl.fd);
    return e;
}

}  // namespace cx::detail

namespace cx::detail {
namespace {

// One census with what it is counted against: the namespace's range and reserved ports, read as
// the kernel has them now.
struct counted_census {
    port_span range;
    reserved_ports reserved;
    census c;
    uint32_t usable = 0;
};

int take_counted(int protocol, counted_census& out) {
    if (protocol != IPPROTO_TCP && protocol != IPPROTO_UDP) return EINVAL;
    if (int e = read_port_range(out.range)) return e;
    if (int e = read_reserved_ports(out.reserved)) return e;
    out.usable = out.range.size() - out.reserved.count(out.range);
    return take_census(protocol, out.c);
}

int pair_of(const address& src, const address& dst, pair_key& out) {
    const int family = dst.family();
    if (family != AF_INET && family != AF_INET6) return EAFNOSUPPORT;
    if (src.family() != family) return EAFNOSUPPORT;
    if (src.is_wildcard() || dst.is_wildcard() || dst.port() == 0) return EINVAL;
    out.src = key_of(family, ip_bytes(src, false));
    out.dst = key_of(family, ip_bytes(dst, false));
    out.dst_port = dst.port();
    return out.src.family == out.dst.family ? 0 : EAFNOSUPPORT;
}

address address_of(const ip_key& k, uint16_t port) {
    address a;
    if (k.family == AF_INET) {
        uint32_t ip;
        std::memcpy(&ip, k.ip.data(), 4);
        return address::v4(ntohl(ip), port);
    }
    auto* s6 = reinterpret_cast<sockaddr_in6*>(a.sa());
    s6->sin6_family = AF_INET6;
    std::memcpy(s6->sin6_addr.s6_addr, k.ip.data(), 16);
    s6->sin6_port = htons(port);
    return a;
}

int budget_of(int protocol, const address& src, const address& dst, port_budget& out) {
    pair_key pair;
    if (protocol != IPPROTO_TCP && protocol != IPPROTO_UDP) return EINVAL;
    if (int e = pair_of(src, dst, pair)) return e;
    counted_census cc;
    if (int e = take_counted(protocol, cc)) return e;
    out.range = {cc.range.lo, cc.range.hi};
    out.usable = cc.usable;
    out.used = census_used(cc.c, pair, cc.range, cc.reserved);
    out.free = out.usable - out.used;
    return 0;
}

int occupancy_of(int protocol, port_census_report& out) {
    // Large: the census maps and a reserved-port bitmap (8 KiB); the heap, not the stack.
    auto cc = std::make_unique<counted_census>();
    if (int e = take_counted(protocol, *cc)) return e;
    out.range = {cc->range.lo, cc->range.hi};
    out.usable = cc->usable;
    for (const auto& [pair, ports] : cc->c.connected) {
        port_occupancy o;
        o.protocol = protocol;
        o.source = address_of(pair.src, 0);
        o.destination = address_of(pair.dst, pair.dst_port);
        o.usable = out.usable;
        o.used = census_used(cc->c, pair, cc->range, cc->reserved);
        o.free = o.usable - o.used;
        // A pair holding no usable port spends no budget: the accepted side of a connection
        // (its local port is the listener's) or flows from ports outside the range.
        if (o.used) out.pairs.push_back(o);
    }
    // Most used first; std::map already ordered the pairs by source, then destination.
    std::stable_sort(
        out.pairs.begin(), out.pairs.end(),
        [](const port_occupancy& a, const port_occupancy& b) { return a.used > b.used; });
    return 0;
}

}  // namespace
}  // namespace cx::detail

extern "C" int connectx_budget(int protocol, const struct sockaddr* src, socklen_t src_len,
                               const struct sockaddr* dst, socklen_t dst_len,
                               struct connectx_port_budget* out) {
    int e = EINVAL;
    if (src && dst && out) {
        auto s = cx::address::from_sockaddr(src, src_len);
        auto d = cx::address::from_sockaddr(dst, dst_len);
        cx::port_budget b;
        if (!s)
            e = s.error().value();
        else if (!d)
            e = d.error().value();
        else
            e = cx::detail::budget_of(protocol, *s, *d, b);
        if (e == 0) {
            *out = connectx_port_budget{b.usable, b.used, b.free, b.range.lo, b.range.hi};
            return 0;
        }
    }
    errno = e;
    return -1;
}

namespace cx {

result<port_budget> budget(int protocol, const address& src, const address& dst) noexcept {
    port_budget b;
    try {
        if (int e = detail::budget_of(protocol, src, dst, b)) return errno_code(e);
    } catch (const std::bad_alloc&) {
        return errno_code(ENOMEM);
    }
    return b;
}

result<port_census_report> port_census(int protocol) noexcept {
    try {
        port_census_report v;
        if (int e = detail::occupancy_of(protocol, v)) return errno_code(e);
        return v;
    } catch (const std::bad_alloc&) {
        return errno_code(ENOMEM);
    }
}

}  // namespace cx
