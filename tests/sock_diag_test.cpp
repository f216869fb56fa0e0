// sock_diag_test.cpp - SOCK_DIAG_BY_FAMILY request builders and reply parsers: the request's
// swapped ends, every validation of a reply on fabricated bytes (truncation at every length,
// foreign sequence/port id, wrong type, trailing data), replies recorded from the real kernel, and
// the dump filter's bytecode accepted and applied by the kernel (UDP, IPv4-mapped, TCP lookups).
#include "sock_diag.hpp"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <vector>

#include "nl_socket.hpp"
#include "support/netns.hpp"

namespace {

using namespace cx::detail;

constexpr uint32_t kSeq = 77, kPortid = 1234;

diag_tuple v4_tuple() {
    diag_tuple t;
    t.family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", t.local);
    inet_pton(AF_INET, "127.0.1.1", t.remote);
    t.local_port = 40000;
    t.remote_port = 5353;
    t.ifindex = 3;
    return t;
}

// A reply: nlmsghdr(type, seq, pid) + payload.
std::vector<uint8_t> message(uint16_t type, const void* payload, size_t len, uint32_t seq = kSeq,
                             uint32_t pid = kPortid) {
    std::vector<uint8_t> m(NLMSG_ALIGN(sizeof(nlmsghdr) + len));
    nlmsghdr h{};
    h.nlmsg_len = uint32_t(sizeof(nlmsghdr) + len);
    h.nlmsg_type = type;
    h.nlmsg_seq = seq;
    h.nlmsg_pid = pid;
    std::memcpy(m.data(), &h, sizeof h);
    std::memcpy(m.data() + sizeof h, payload, len);
    m.resize(sizeof(nlmsghdr) + len);
    return m;
}

std::vector<uint8_t> found(uint16_t local_port, uint64_t cookie, uint32_t seq = kSeq) {
    inet_diag_msg m{};
    m.idiag_family = AF_INET;
    m.id.idiag_sport = htons(local_port);
    m.id.idiag_cookie[0] = uint32_t(cookie);
    m.id.idiag_cookie[1] = uint32_t(cookie >> 32);
    return message(SOCK_DIAG_BY_FAMILY, &m, sizeof m, seq);
}

std::vector<uint8_t> error(int e) {
    nlmsgerr err{};
    err.error = -e;
    return message(NLMSG_ERROR, &err, sizeof err);
}

void collect(const diag_entry& e, void* ctx) {
    static_cast<std::vector<diag_entry>*>(ctx)->push_back(e);
}

int parse(const std::vector<uint8_t>& b, diag_answer& a) {
    return sock_diag_parse_lookup(b.data(), b.size(), kSeq, kPortid, v4_tuple(), a);
}

TEST(SockDiagRequest, ExactLookupPutsRemoteInSrcAndLocalInDst) {
    alignas(4) uint8_t buf[kSockDiagRequestSize];
    ASSERT_EQ(sock_diag_build_lookup(buf, sizeof buf, kSeq, IPPROTO_UDP, v4_tuple()), 72u);
    nlmsghdr h;
    inet_diag_req_v2 r;
    std::memcpy(&h, buf, sizeof h);
    std::memcpy(&r, buf + sizeof h, sizeof r);
    EXPECT_EQ(h.nlmsg_len, 72u);
    EXPECT_EQ(h.nlmsg_type, SOCK_DIAG_BY_FAMILY);
    EXPECT_EQ(h.nlmsg_flags, NLM_F_REQUEST) << "no NLM_F_DUMP: the single-socket lookup";
    EXPECT_EQ(h.nlmsg_seq, kSeq);
    EXPECT_EQ(r.sdiag_family, AF_INET);
    EXPECT_EQ(r.sdiag_protocol, IPPROTO_UDP);
    EXPECT_EQ(ntohs(r.id.idiag_sport), 5353);   // remote
    EXPECT_EQ(ntohs(r.id.idiag_dport), 40000);  // local
    EXPECT_EQ(ntohl(r.id.idiag_src[0]), 0x7f000101u);
    EXPECT_EQ(ntohl(r.id.idiag_dst[0]), 0x7f000001u);
    EXPECT_EQ(r.id.idiag_if, 3u);
    EXPECT_EQ(r.id.idiag_cookie[0], INET_DIAG_NOCOOKIE);
    EXPECT_EQ(r.id.idiag_cookie[1], INET_DIAG_NOCOOKIE);
    EXPECT_EQ(sock_diag_build_lookup(buf, 71, kSeq, IPPROTO_UDP, v4_tuple()), 0u);
}

TEST(SockDiagLookupReply, FoundGivesTheCookie) {
    diag_answer a;
    ASSERT_EQ(parse(found(40000, 0x1122334455667788ull), a), 0);
    ASSERT_TRUE(a.cookie);
    EXPECT_EQ(*a.cookie, 0x1122334455667788ull);
}

// The socket an answer names holds the flow for good only when it is on the port asked about
// and connected to the remote end asked about (a dual-stack socket reports it IPv4-mapped).
TEST(SockDiagLookupReply, InFlightUnlessConnectedToTheRemoteAskedAbout) {
    auto answer = [](int family, const char* remote, uint16_t remote_port, uint16_t local_port) {
        inet_diag_msg m{};
        m.idiag_family = uint8_t(family);
        m.id.idiag_sport = htons(local_port);
        m.id.idiag_dport = htons(remote_port);
        if (remote) inet_pton(family, remote, m.id.idiag_dst);
        m.id.idiag_cookie[0] = 9;
        diag_answer a;
        EXPECT_EQ(parse(message(SOCK_DIAG_BY_FAMILY, &m, sizeof m), a), 0);
        return a.in_flight;
    };
    EXPECT_FALSE(answer(AF_INET, "127.0.1.1", 5353, 40000)) << "connected to the flow";
    EXPECT_FALSE(answer(AF_INET6, "::ffff:127.0.1.1", 5353, 40000)) << "dual-stack, connected";
    EXPECT_TRUE(answer(AF_INET, nullptr, 0, 40000)) << "unconnected";
    EXPECT_TRUE(answer(AF_INET, "127.0.1.2", 5353, 40000)) << "connected to another address";
    EXPECT_TRUE(answer(AF_INET, "127.0.1.1", 5354, 40000)) << "connected to another port";
    EXPECT_TRUE(answer(AF_INET6, "::1", 5353, 40000)) << "an IPv6 remote";
    EXPECT_TRUE(answer(AF_INET, "127.0.1.1", 5353, 40001)) << "moved to another local port";
}

TEST(SockDiagLookupReply, EnoentIsNotFoundAndOtherErrorsAreErrors) {
    diag_answer a;
    a.cookie = 1;
    EXPECT_EQ(parse(error(ENOENT), a), 0);
    EXPECT_FALSE(a.cookie);
    EXPECT_EQ(parse(error(EINVAL), a), EINVAL);
    EXPECT_EQ(parse(error(0), a), EPROTO) << "an ACK is not an answer";
    nlmsgerr huge{};
    huge.error = -100000;
    EXPECT_EQ(parse(message(NLMSG_ERROR, &huge, sizeof huge), a), EPROTO);
    huge.error = 5;
    EXPECT_EQ(parse(message(NLMSG_ERROR, &huge, sizeof huge), a), EPROTO);
}

TEST(SockDiagLookupReply, ForeignSequencePortIdTypeOrPortIsEproto) {
    diag_answer a;
    EXPECT_EQ(parse(found(40000, 9, kSeq + 1), a), EPROTO);
    inet_diag_msg m{};
    m.idiag_family = AF_INET;
    m.id.idiag_sport = htons(40000);
    EXPECT_EQ(parse(message(SOCK_DIAG_BY_FAMILY, &m, sizeof m, kSeq, kPortid + 1), a), EPROTO);
    EXPECT_EQ(parse(message(NLMSG_DONE, &m, sizeof m), a), EPROTO);
    // A socket that left the port between the kernel's lookup and its reply: still an answer.
    ASSERT_EQ(parse(found(40001, 9), a), 0);
    EXPECT_TRUE(a.moved);
    ASSERT_EQ(parse(found(40000, 9), a), 0);
    EXPECT_FALSE(a.moved);
    m.idiag_family = AF_UNIX;
    EXPECT_EQ(parse(message(SOCK_DIAG_BY_FAMILY, &m, sizeof m), a), EPROTO);
}

TEST(SockDiagLookupReply, EveryTruncationIsEproto) {
    for (auto full : {found(40000, 9), error(ENOENT)}) {
        for (size_t n = 0; n < full.size(); ++n) {
            std::vector<uint8_t> cut(full.begin(), full.begin() + long(n));
            diag_answer a;
            EXPECT_EQ(sock_diag_parse_lookup(cut.data(), cut.size(), kSeq, kPortid, v4_tuple(), a),
                      EPROTO)
                << "length " << n;
            EXPECT_FALSE(a.cookie);
        }
        // A header that claims less than the payload the type needs is caught too.
        auto shrunk = full;
        uint32_t len = sizeof(nlmsghdr) + 4;
        std::memcpy(shrunk.data(), &len, sizeof len);
        shrunk.resize(len);
        diag_answer a;
        EXPECT_EQ(parse(shrunk, a), EPROTO);
    }
}

TEST(SockDiagLookupReply, LengthOfTwoToTheThirtyFirstOrMoreIsEproto) {
    // libmnl's mnl_nlmsg_ok() compares as int: such a length passed it (found by fuzzing).
    for (auto m : {found(40000, 9), error(ENOENT)}) {
        uint32_t huge = 0xf6000024;
        std::memcpy(m.data(), &huge, sizeof huge);
        diag_answer a;
        EXPECT_EQ(parse(m, a), EPROTO);
        std::vector<diag_entry> got;
        bool fin;
        EXPECT_EQ(sock_diag_parse_dump(m.data(), m.size(), kSeq, kPortid, collect, &got, fin),
                  EPROTO);
    }
}

TEST(SockDiagLookupReply, TrailingMessageOrMalformedAttributesIsEproto) {
    auto two = found(40000, 9);
    auto more = found(40000, 10);
    while (two.size() % 4) two.push_back(0);
    two.insert(two.end(), more.begin(), more.end());
    diag_answer a;
    EXPECT_EQ(parse(two, a), EPROTO);
    // An attribute whose length runs past the message.
    inet_diag_msg m{};
    m.idiag_family = AF_INET;
    m.id.idiag_sport = htons(40000);
    uint8_t payload[sizeof m + 8];
    std::memcpy(payload, &m, sizeof m);
    uint16_t nla_len = 64, nla_type = 1;
    std::memcpy(payload + sizeof m, &nla_len, 2);
    std::memcpy(payload + sizeof m + 2, &nla_type, 2);
    EXPECT_EQ(parse(message(SOCK_DIAG_BY_FAMILY, payload, sizeof payload), a), EPROTO);
    nla_len = 8;  // well-formed: accepted
    std::memcpy(payload + sizeof m, &nla_len, 2);
    EXPECT_EQ(parse(message(SOCK_DIAG_BY_FAMILY, payload, sizeof payload), a), 0);
}

TEST(SockDiagDumpReply, EntriesThenDone) {
    auto a = found(40000, 1), b = found(40002, 2);
    int zero = 0;
    auto done = message(NLMSG_DONE, &zero, sizeof zero);
    std::vector<uint8_t> all;
    for (auto* m : {&a, &b, &done}) {
        all.insert(all.end(), m->begin(), m->end());
        while (all.size() % 4) all.push_back(0);
    }
    std::vector<diag_entry> got;
    bool fin = false;
    ASSERT_EQ(sock_diag_parse_dump(all.data(), all.size(), kSeq, kPortid, collect, &got, fin), 0);
    EXPECT_TRUE(fin);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[1].local_port, 40002);
    EXPECT_EQ(got[1].cookie, 2u);
    // Anything after DONE, a failed DONE, an error, a foreign message: refused.
    auto after = all;
    after.insert(after.end(), a.begin(), a.end());
    EXPECT_EQ(sock_diag_parse_dump(after.data(), after.size(), kSeq, kPortid, collect, &got, fin),
              EPROTO);
    int failed = -EINTR;
    auto bad_done = message(NLMSG_DONE, &failed, sizeof failed);
    EXPECT_EQ(
        sock_diag_parse_dump(bad_done.data(), bad_done.size(), kSeq, kPortid, collect, &got, fin),
        EINTR);
    auto err = error(EPERM);
    EXPECT_EQ(sock_diag_parse_dump(err.data(), err.size(), kSeq, kPortid, collect, &got, fin),
              EPERM);
    auto foreign = found(40000, 1, kSeq + 1);
    EXPECT_EQ(
        sock_diag_parse_dump(foreign.data(), foreign.size(), kSeq, kPortid, collect, &got, fin),
        EPROTO);
}

// --- against the kernel ------------------------------------------------------------------------

uint64_t cookie_of(int fd) {
    uint64_t c = 0;
    socklen_t len = sizeof c;
    getsockopt(fd, SOL_SOCKET, SO_COOKIE, &c, &len);
    return c;
}

TEST(SockDiagKernel, RecordedReplyParsesAndEveryTruncationOfItIsRefused) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        int s = cxtest::udp_bound(cxtest::v4("127.0.0.1:40000"));
        nl_socket nl;
        ASSERT_EQ(nl_open(NETLINK_SOCK_DIAG, nl), 0);
        diag_tuple t = v4_tuple();
        t.ifindex = 0;
        alignas(4) uint8_t req[kSockDiagRequestSize];
        size_t n = sock_diag_build_lookup(req, sizeof req, 5, IPPROTO_UDP, t);
        ASSERT_EQ(nl_send(nl.fd, req, n), 0);
        alignas(4) uint8_t reply[1024];
        size_t got;
        ASSERT_EQ(nl_recv(nl.fd, reply, sizeof reply, got), 0);
        diag_answer a;
        ASSERT_EQ(sock_diag_parse_lookup(reply, got, 5, nl.portid, t, a), 0);
        ASSERT_TRUE(a.cookie);
        EXPECT_EQ(*a.cookie, cookie_of(s));
        for (size_t k = 0; k < got; ++k)
            EXPECT_EQ(sock_diag_parse_lookup(reply, k, 5, nl.portid, t, a), EPROTO) << k;
        // Not found, from the kernel: ENOENT becomes "none".
        t.local_port = 40001;
        ASSERT_EQ(sock_diag_lookup(nl.fd, nl.portid, 6, IPPROTO_UDP, t, a), 0);
        EXPECT_FALSE(a.cookie);
        ::close(nl.fd);
        ::close(s);
    });
}

TEST(SockDiagKernel, DumpFilterKeepsUnconnectedAndDestinationSocketsInRange) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        auto dst = cxtest::dst_v4(0, 5353);
        auto other = cxtest::dst_v4(1, 5353);
        auto connected = [](const char* at, const cx::address& to) {
            int fd = cxtest::udp_bound(cxtest::v4(at), true);
            EXPECT_EQ(::connect(fd, to.sa(), to.size()), 0);
            return fd;
        };
        int a = connected("127.0.0.1:40001", dst);                 // toward dst: in
        int b = cxtest::udp_bound(cxtest::v4("127.0.0.1:40002"));  // unconnected: in
        int c = connected("127.0.0.1:40003", other);               // elsewhere: out
        int d = connected("127.0.0.1:41000", dst);                 // outside the range: out
        int e = cxtest::udp_bound(cxtest::v4("[::]:40004"));  // dual-stack unconnected: in (v6)
        int f = cxtest::socket_for(cxtest::v4("::"), SOCK_DGRAM);  // mapped toward dst: in (v6)
        auto fm = cxtest::v4("[::ffff:127.0.0.1]:40005");
        auto dm = cxtest::v4("[::ffff:127.0.1.1]:5353");
        ASSERT_EQ(::bind(f, fm.sa(), fm.size()), 0);
        ASSERT_EQ(::connect(f, dm.sa(), dm.size()), 0);
        nl_socket nl;
        ASSERT_EQ(nl_open(NETLINK_SOCK_DIAG, nl), 0);
        uint8_t remote[16] = {};
        inet_pton(AF_INET, "127.0.1.1", remote);
        std::set<uint16_t> ports;
        auto add = [](const diag_entry& en, void* ctx) {
            static_cast<std::set<uint16_t>*>(ctx)->insert(en.local_port);
        };
        ASSERT_EQ(sock_diag_dump(nl.fd, nl.portid, 1, AF_INET, IPPROTO_UDP, 40000, 40063, AF_INET,
                                 remote, 5353, add, &ports),
                  0);
        EXPECT_EQ(ports, (std::set<uint16_t>{40001, 40002}));
        ports.clear();
        ASSERT_EQ(sock_diag_dump(nl.fd, nl.portid, 2, AF_INET6, IPPROTO_UDP, 40000, 40063, AF_INET,
                                 remote, 5353, add, &ports),
                  0);
        EXPECT_EQ(ports, (std::set<uint16_t>{40004, 40005}));
        for (int fd : {a, b, c, d, e, f, nl.fd}) ::close(fd);
    });
}

TEST(SockDiagKernel, ExactLookupWorksForTcpToo) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        auto at = cxtest::dst_v4(0, 8080);
        int l = cxtest::tcp_listener(at);
        int c = cxtest::socket_for(at, SOCK_STREAM);
        ASSERT_EQ(::connect(c, at.sa(), at.size()), 0);
        sockaddr_in local{};
        socklen_t len = sizeof local;
        getsockname(c, reinterpret_cast<sockaddr*>(&local), &len);
        diag_tuple t;
        t.family = AF_INET;
        std::memcpy(t.local, &local.sin_addr, 4);
        t.local_port = ntohs(local.sin_port);
        inet_pton(AF_INET, "127.0.1.1", t.remote);
        t.remote_port = 8080;
        nl_socket nl;
        ASSERT_EQ(nl_open(NETLINK_SOCK_DIAG, nl), 0);
        diag_answer a;
        ASSERT_EQ(sock_diag_lookup(nl.fd, nl.portid, 1, IPPROTO_TCP, t, a), 0);
        ASSERT_TRUE(a.cookie);
        EXPECT_EQ(*a.cookie, cookie_of(c));
        t.remote_port = 8081;
        ASSERT_EQ(sock_diag_lookup(nl.fd, nl.portid, 2, IPPROTO_TCP, t, a), 0);
        EXPECT_FALSE(a.cookie);
        ::close(nl.fd), ::close(c), ::close(l);
    });
}

}  // namespace
