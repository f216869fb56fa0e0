// sock_diag.cpp - SOCK_DIAG_BY_FAMILY requests and reply validation (libmnl). Every reply is
// checked for length, sequence number, port id, type and the echoed tuple before it is believed:
// the UDP path fails closed on anything it cannot read with certainty.
#include "sock_diag.hpp"

#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <memory>
#include <new>

#include "nl_msg.hpp"
#include "nl_socket.hpp"

namespace cx::detail {
namespace {

// The reply to an exact lookup is one inet_diag_msg and a few attributes; 1 KiB leaves room.
constexpr size_t kLookupReplyMax = 1024;
// Dump datagrams are at most 32 KiB (the kernel caps them below that); see MNL_SOCKET_DUMP_SIZE.
constexpr size_t kDumpReplyMax = 32768;

void fill_request(inet_diag_req_v2& r, int family, int protocol) {
    std::memset(&r, 0, sizeof r);
    r.sdiag_family = uint8_t(family);
    r.sdiag_protocol = uint8_t(protocol);
    r.idiag_states = ~0u;
    r.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
    r.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
}

// Common header checks for one message of a reply: the message fits, and answers our request.
bool header_ok(const nlmsghdr* nlh, int remaining, uint32_t seq, uint32_t portid) {
    return remaining >= 0 && nl_msg_answers(nlh, size_t(remaining), seq, portid);
}

// Validates the inet_diag_msg of a SOCK_DIAG_BY_FAMILY message, attributes included, and
// converts it. False when malformed.
bool entry_of(const nlmsghdr* nlh, diag_entry& e) {
    if (mnl_nlmsg_get_payload_len(nlh) < sizeof(inet_diag_msg)) return false;
    auto* m = static_cast<const inet_diag_msg*>(mnl_nlmsg_get_payload(nlh));
    if (m->idiag_family != AF_INET && m->idiag_family != AF_INET6) return false;
    // Attributes must be well-formed even though none is needed: a reply that is not is not
    // one the kernel sent whole.
    if (!nl_attrs_ok(nlh, sizeof(inet_diag_msg))) return false;
    e.family = m->idiag_family;
    std::memcpy(e.local, m->id.idiag_src, sizeof e.local);
    std::memcpy(e.remote, m->id.idiag_dst, sizeof e.remote);
    e.local_port = ntohs(m->id.idiag_sport);
    e.remote_port = ntohs(m->id.idiag_dport);
    e.ifindex = m->id.idiag_if;
    e.cookie = uint64_t(m->id.idiag_cookie[0]) | uint64_t(m->id.idiag_cookie[1]) << 32;
    return true;
}

// inet_diag bytecode: one op, then its operand(s). `yes`/`no` are byte offsets from the op; a
// program accepts by running off its end exactly and rejects by jumping 4 bytes past it. The
// kernel's audit walks the `yes` chain, so every `no` target must lie on it.
struct bc_writer {
    uint8_t* p;
    size_t len = 0;
    void op(uint8_t code, uint8_t yes, uint16_t no) {
        inet_diag_bc_op o{code, yes, no};
        std::memcpy(p + len, &o, sizeof o);
        len += sizeof o;
    }
    void port_op(uint8_t code, uint16_t port, uint16_t reject) {
        op(code, 8, reject);
        op(0, 0, port);  // operand: the port in `no`
    }
};

}  // namespace

size_t sock_diag_build_lookup(void* buf, size_t cap, uint32_t seq, int protocol,
                              const diag_tuple& t) noexcept {
    if (cap < kSockDiagRequestSize) return 0;
    nlmsghdr* nlh =
        nl_request_start(buf, kSockDiagRequestSize, SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, seq);
    auto* r =
        static_cast<inet_diag_req_v2*>(mnl_nlmsg_put_extra_header(nlh, sizeof(inet_diag_req_v2)));
    fill_request(*r, t.family, protocol);
    // UDP's exact lookup is the receive path's: a packet from idiag_src to idiag_dst, so the
    // remote end goes first ("swapped for historical reasons"). TCP's (inet_diag_find_one_icsk)
    // reads idiag_src as the local end.
    bool swapped = protocol != IPPROTO_TCP;
    std::memcpy(r->id.idiag_src, swapped ? t.remote : t.local, addr_len(t.family));
    std::memcpy(r->id.idiag_dst, swapped ? t.local : t.remote, addr_len(t.family));
    r->id.idiag_sport = htons(swapped ? t.remote_port : t.local_port);
    r->id.idiag_dport = htons(swapped ? t.local_port : t.remote_port);
    r->id.idiag_if = t.ifindex;
    return nlh->nlmsg_len;
}

namespace {

// Whether the socket of `e` is connected to the remote end of `t`. A dual-stack socket in the
// IPv4 table reports its remote IPv4-mapped.
bool connected_to(const diag_entry& e, const diag_tuple& t) {
    if (e.remote_port != t.remote_port) return false;
    if (e.family == t.family) return std::memcmp(e.remote, t.remote, addr_len(t.family)) == 0;
    static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return e.family == AF_INET6 && t.family == AF_INET &&
           std::memcmp(e.remote, kMapped, sizeof kMapped) == 0 &&
           std::memcmp(e.remote + 12, t.remote, 4) == 0;
}

}  // namespace

int sock_diag_parse_lookup(const void* buf, size_t len, uint32_t seq, uint32_t portid,
                           const diag_tuple& t, diag_answer& out) noexcept {
    out = diag_answer{};
    if (len < sizeof(nlmsghdr) || len > kLookupReplyMax * 64) return EPROTO;
    auto* nlh = static_cast<const nlmsghdr*>(buf);
    if (!header_ok(nlh, int(len), seq, portid)) return EPROTO;
    if (MNL_ALIGN(nlh->nlmsg_len) < len) return EPROTO;  // more than the one answer
    if (nlh->nlmsg_type == NLMSG_ERROR) {
        int e = nl_error_answer(nlh);
        return e == ENOENT ? 0 : e;  // ENOENT: no such socket, the answer "not found"
    }
    if (nlh->nlmsg_type != SOCK_DIAG_BY_FAMILY) return EPROTO;
    diag_entry e;
    if (!entry_of(nlh, e)) return EPROTO;
    out.cookie = e.cookie;
    out.moved = e.local_port != t.local_port;
    out.in_flight = out.moved || !connected_to(e, t);
    return 0;
}

size_t sock_diag_build_dump(void* buf, size_t cap, uint32_t seq, int family, int protocol,
                            uint16_t port_lo, uint16_t port_hi, int remote_family,
                            const uint8_t* remote, uint16_t remote_port) noexcept {
    if (cap < kSockDiagDumpMax || (remote_family != AF_INET && remote_family != AF_INET6)) return 0;
    nlmsghdr* nlh = nl_request_start(buf, kSockDiagDumpMax, SOCK_DIAG_BY_FAMILY,
                                     NLM_F_REQUEST | NLM_F_DUMP, seq);
    auto* r =
        static_cast<inet_diag_req_v2*>(mnl_nlmsg_put_extra_header(nlh, sizeof(inet_diag_req_v2)));
    fill_request(*r, family, protocol);

    // Accept: port_lo <= local port <= port_hi and (remote == dst:dport or remote port == 0).
    uint8_t code[96];
    bc_writer w{code};
    const size_t alen = addr_len(remote_family);
    const size_t cond = sizeof(inet_diag_bc_op) + sizeof(inet_diag_hostcond) + alen;
    const size_t total = 8 + 8 + cond + 4 + 8;
    w.port_op(INET_DIAG_BC_S_GE, port_lo, uint16_t(total + 4));
    w.port_op(INET_DIAG_BC_S_LE, port_hi, uint16_t(total - 8 + 4));
    w.op(INET_DIAG_BC_D_COND, uint8_t(cond), uint16_t(cond + 4));  // no: skip the JMP
    inet_diag_hostcond hc{};
    hc.family = uint8_t(remote_family);
    hc.prefix_len = uint8_t(alen * 8);
    hc.port = remote_port;
    std::memcpy(code + w.len, &hc, sizeof hc);
    w.len += sizeof hc;
    std::memcpy(code + w.len, remote, alen);
    w.len += alen;
    w.op(INET_DIAG_BC_JMP, 4, 4 + 8);        // matched the destination: jump to the end, accept
    w.port_op(INET_DIAG_BC_D_EQ, 0, 8 + 4);  // unconnected: accept; else reject
    mnl_attr_put(nlh, INET_DIAG_REQ_BYTECODE, w.len, code);
    return nlh->nlmsg_len;
}

int sock_diag_parse_dump(const void* buf, size_t len, uint32_t seq, uint32_t portid,
                         diag_entry_fn on_entry, void* ctx, bool& done) noexcept {
    done = false;
    auto* nlh = static_cast<const nlmsghdr*>(buf);
    int remaining = int(len);
    if (len < sizeof(nlmsghdr) || len > (1u << 24)) return EPROTO;
    while (remaining > 0) {
        if (!header_ok(nlh, remaining, seq, portid)) return EPROTO;
        if (done) return EPROTO;  // nothing may follow NLMSG_DONE
        switch (nlh->nlmsg_type) {
            case NLMSG_DONE: {
                // Since 4.x the payload is an int: a negative errno if the dump failed.
                if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(int)) {
                    int v;
                    std::memcpy(&v, mnl_nlmsg_get_payload(nlh), sizeof v);
                    if (v < 0) return v < -4095 ? EPROTO : -v;
                }
                done = true;
                break;
            }
            case NLMSG_ERROR:
                return nl_error_answer(nlh);
            case SOCK_DIAG_BY_FAMILY: {
                diag_entry e;
                if (!entry_of(nlh, e)) return EPROTO;
                on_entry(e, ctx);
                break;
            }
            default:
                return EPROTO;
        }
        nlh = mnl_nlmsg_next(nlh, &remaining);
    }
    return 0;
}

int sock_diag_lookup(int nl, uint32_t portid, uint32_t seq, int protocol, const diag_tuple& t,
                     diag_answer& out) noexcept {
    alignas(nlmsghdr) uint8_t req[kSockDiagRequestSize];
    size_t n = sock_diag_build_lookup(req, sizeof req, seq, protocol, t);
    if (int e = nl_send(nl, req, n)) return e;
    alignas(nlmsghdr) uint8_t reply[kLookupReplyMax];
    size_t got;
    if (int e = nl_recv(nl, reply, sizeof reply, got)) return e;
    return sock_diag_parse_lookup(reply, got, seq, portid, t, out);
}

int sock_diag_lookup_batch(int nl, uint32_t portid, uint32_t seq0, int protocol,
                           const diag_tuple* t, size_t n, diag_answer* out) noexcept {
    if (n == 0 || n > kSockDiagBatchMax) return EINVAL;
    // Per-thread buffers, allocated on a thread's first batch: static TLS stays small (the
    // drop-in is loaded at program start, where TLS comes from one fixed block).
    constexpr size_t kReqBytes = kSockDiagRequestSize * kSockDiagBatchMax;
    constexpr size_t kReplyBytes = kLookupReplyMax * kSockDiagBatchMax;
    static thread_local std::unique_ptr<uint8_t[]> buffers;
    if (!buffers) buffers.reset(new (std::nothrow) uint8_t[kReqBytes + kReplyBytes]);
    if (!buffers) return ENOMEM;
    uint8_t* req = buffers.get();
    auto reply = reinterpret_cast<uint8_t(*)[kLookupReplyMax]>(buffers.get() + kReqBytes);
    for (size_t i = 0; i < n; ++i)
        sock_diag_build_lookup(req + i * kSockDiagRequestSize, kSockDiagRequestSize,
                               seq0 + uint32_t(i), protocol, t[i]);
    if (int e = nl_send(nl, req, n * kSockDiagRequestSize)) return e;
    iovec iov[kSockDiagBatchMax];
    mmsghdr msgs[kSockDiagBatchMax];
    bool answered[kSockDiagBatchMax] = {};
    for (size_t got = 0; got < n;) {
        const size_t want = n - got;
        for (size_t i = 0; i < want; ++i) {
            iov[i] = {reply[i], kLookupReplyMax};
            msgs[i] = {};
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        // Waits (up to the receive timeout) for the first answer only, then takes what is there.
        int m = ::recvmmsg(nl, msgs, unsigned(want), MSG_WAITFORONE, nullptr);
        if (m < 0) {
            if (errno == EINTR) continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? ETIMEDOUT : errno;
        }
        for (int k = 0; k < m; ++k) {
            if (msgs[k].msg_hdr.msg_flags & MSG_TRUNC) return EPROTO;
            const size_t len = msgs[k].msg_len;
            if (len < sizeof(nlmsghdr)) return EPROTO;
            uint32_t seq;
            std::memcpy(&seq, reply[k] + offsetof(nlmsghdr, nlmsg_seq), sizeof seq);
            const uint32_t i = seq - seq0;
            if (i >= n || answered[i]) return EPROTO;
            answered[i] = true;
            if (int e = sock_diag_parse_lookup(reply[k], len, seq, portid, t[i], out[i])) return e;
        }
        got += size_t(m);
    }
    return 0;
}

namespace {
std::atomic<uint64_t> g_dumps{0};
}

uint64_t sock_diag_dump_count() noexcept {
    return g_dumps.load(std::memory_order_relaxed);
}

int sock_diag_dump(int nl, uint32_t portid, uint32_t seq, int family, int protocol,
                   uint16_t port_lo, uint16_t port_hi, int remote_family, const uint8_t* remote,
                   uint16_t remote_port, diag_entry_fn on_entry, void* ctx) noexcept {
    alignas(nlmsghdr) uint8_t req[kSockDiagDumpMax];
    size_t n = sock_diag_build_dump(req, sizeof req, seq, family, protocol, port_lo, port_hi,
                                    remote_family, remote, remote_port);
    if (n == 0) return EINVAL;
    g_dumps.fetch_add(1, std::memory_order_relaxed);
    if (int e = nl_send(nl, req, n)) return e;
    // Dump datagrams are at most a page or 32 KiB; one per-thread buffer, not on the stack.
    // Allocated on a thread's first dump: static TLS stays small (see sock_diag_lookup_batch).
    static thread_local std::unique_ptr<uint8_t[]> buffer;
    if (!buffer) buffer.reset(new (std::nothrow) uint8_t[kDumpReplyMax]);
    if (!buffer) return ENOMEM;
    uint8_t* reply = buffer.get();
    for (bool done = false; !done;) {
        size_t got;
        if (int e = nl_recv(nl, reply, kDumpReplyMax, got)) return e;
        if (int e = sock_diag_parse_dump(reply, got, seq, portid, on_entry, ctx, done)) return e;
    }
    return 0;
}

}  // namespace cx::detail
