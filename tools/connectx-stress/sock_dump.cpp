// sock_dump.cpp - SOCK_DIAG_BY_FAMILY dumps (libmnl) and the 4-tuple analysis. A dump, unlike
// the library's exact lookup, walks the whole table: it sees every socket, so two sockets on one
// 4-tuple (UDP with SO_REUSEADDR) cannot hide from it.
#include "sock_dump.hpp"

#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>
#include <tuple>

namespace cxstress {
namespace {

// Large receive chunks: a million-socket dump is ~100 MB of messages.
constexpr size_t kDumpBuf = 256 * 1024;
constexpr size_t kRequestBuf = 256;  // nlmsghdr + inet_diag_req_v2

struct dump_ctx {
    int family;
    std::vector<tuple4>* out;
};

int on_message(const nlmsghdr* nlh, void* data) {
    auto* ctx = static_cast<dump_ctx*>(data);
    if (mnl_nlmsg_get_payload_len(nlh) < sizeof(inet_diag_msg)) {
        errno = EPROTO;
        return MNL_CB_ERROR;
    }
    const auto* msg = static_cast<const inet_diag_msg*>(mnl_nlmsg_get_payload(nlh));
    if (msg->idiag_family != ctx->family) return MNL_CB_OK;
    tuple4 t;
    size_t len = ctx->family == AF_INET ? 4 : 16;
    std::memcpy(t.local.data(), msg->id.idiag_src, len);  // in a dump reply, src is local
    std::memcpy(t.remote.data(), msg->id.idiag_dst, len);
    t.local_port = ntohs(msg->id.idiag_sport);
    t.remote_port = ntohs(msg->id.idiag_dport);
    ctx->out->push_back(t);
    return MNL_CB_OK;
}

auto key(const tuple4& t) {
    return std::tie(t.local, t.local_port, t.remote, t.remote_port);
}

}  // namespace

int dump_established(int family, int protocol, std::vector<tuple4>& out) {
    out.clear();
    std::unique_ptr<mnl_socket, int (*)(mnl_socket*)> nl(
        mnl_socket_open2(NETLINK_SOCK_DIAG, SOCK_CLOEXEC), mnl_socket_close);
    if (!nl) return errno;
    if (mnl_socket_bind(nl.get(), 0, MNL_SOCKET_AUTOPID) < 0) return errno;

    char req[kRequestBuf];
    nlmsghdr* nlh = mnl_nlmsg_put_header(req);
    nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    auto seq = unsigned(time(nullptr));
    nlh->nlmsg_seq = seq;
    auto* r =
        static_cast<inet_diag_req_v2*>(mnl_nlmsg_put_extra_header(nlh, sizeof(inet_diag_req_v2)));
    r->sdiag_family = uint8_t(family);
    r->sdiag_protocol = uint8_t(protocol);
    r->idiag_states = 1u << TCP_ESTABLISHED;  // connected UDP sockets are ESTABLISHED too
    if (mnl_socket_sendto(nl.get(), nlh, nlh->nlmsg_len) < 0) return errno;

    std::unique_ptr<char[]> buf(new char[kDumpBuf]);
    dump_ctx ctx{family, &out};
    unsigned portid = mnl_socket_get_portid(nl.get());
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(nl.get(), buf.get(), kDumpBuf);
        if (n < 0) return errno;
        int rc = mnl_cb_run(buf.get(), size_t(n), seq, portid, on_message, &ctx);
        if (rc == MNL_CB_STOP) return 0;  // NLMSG_DONE
        if (rc < 0) return errno ? errno : EPROTO;
    }
}

tuple_stats analyse(std::vector<tuple4>& tuples, uint16_t server_port) {
    tuple_stats s;
    std::sort(tuples.begin(), tuples.end(),
              [](const tuple4& a, const tuple4& b) { return key(a) < key(b); });
    for (size_t i = 0; i < tuples.size(); ++i) {
        const tuple4& t = tuples[i];
        bool first_of_tuple = i == 0 || key(tuples[i - 1]) != key(t);
        if (!first_of_tuple) ++s.duplicates;
        if (t.remote_port != server_port || t.local_port == server_port) continue;
        ++s.clients;
        // Sorted by local pair, then remote: a pair's sockets are adjacent, so a pair seen
        // just before with another remote address is shared.
        bool same_pair = i > 0 && tuples[i - 1].local == t.local &&
                         tuples[i - 1].local_port == t.local_port &&
                         tuples[i - 1].remote_port == server_port;
        if (!same_pair)
            ++s.local_pairs;
        else if (tuples[i - 1].remote != t.remote)
            s.shared = true;
    }
    return s;
}

}  // namespace cxstress
