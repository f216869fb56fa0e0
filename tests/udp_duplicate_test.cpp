// udp_duplicate_test.cpp - the ways a second UDP flow could take a 4-tuple already held, each
// refused: the IPv4-mapped forms of special addresses (the wildcard as a source, as a destination,
// through a port search), and flows tied to a device (opts.ifindex, SO_BINDTOIFINDEX, a link-local
// scope) with the other flow on no device, in both orders; and the same class of address answered
// the same way in its IPv4 and its IPv4-mapped form.
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "support/netns.hpp"
#include "support/udp_util.hpp"

namespace {

using cxtest::udp_connectx;
using cxtest::udp_socket;
using cxtest::v4;

int dual_stack_socket(int type = SOCK_DGRAM) {
    int fd = ::socket(AF_INET6, type | SOCK_CLOEXEC, 0);
    int off = 0;
    EXPECT_EQ(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off), 0);
    return fd;
}

connectx_opts on_device(int ifindex) {
    connectx_opts o{};
    o.size = sizeof o;
    o.ifindex = ifindex;
    return o;
}

void expect_no_duplicates() {
    auto dup = cxtest::duplicate_tuples(cxtest::dump_udp_sockets());
    EXPECT_TRUE(dup.empty()) << "duplicate 4-tuple: " << dup[0];
}

TEST(UdpDuplicateNetns, MappedWildcardSourceCannotTakeAnIpv4Flow) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        int a = udp_socket(AF_INET);
        auto a_src = v4("127.0.0.1:5002");
        ASSERT_EQ(udp_connectx(a, &a_src, v4("127.0.1.1:7002")), 0);
        int b = dual_stack_socket();
        auto b_src = v4("[::ffff:0.0.0.0]:5002");
        EXPECT_EQ(udp_connectx(b, &b_src, v4("[::ffff:127.0.1.1]:7002")), EADDRINUSE);
        EXPECT_FALSE(cxtest::is_connected(b));
        ::close(b);
        // The same through a port search whose only port is A's: nothing is left.
        b = dual_stack_socket();
        auto any = v4("::ffff:0.0.0.0");
        connectx_opts one{};
        one.size = sizeof one;
        one.port_lo = one.port_hi = 5002;
        EXPECT_EQ(udp_connectx(b, &any, v4("[::ffff:127.0.1.1]:7002"), &one), EAGAIN);
        ::close(b);
        // The IPv4 wildcard fits IPv4 destinations only.
        b = dual_stack_socket();
        EXPECT_EQ(udp_connectx(b, &any, v4("[2001:db8::1:1]:7002")), EAFNOSUPPORT);
        ::close(b);
        expect_no_duplicates();
        ::close(a);
    });
}

TEST(UdpDuplicateNetns, MappedWildcardDestinationIsEinvalForUdpAndTcp) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        for (int type : {SOCK_DGRAM, SOCK_STREAM}) {
            int fd = dual_stack_socket(type);
            auto any = v4("[::ffff:0.0.0.0]:7002");
            EXPECT_EQ(connectx(fd, nullptr, 0, any.sa(), any.size(), nullptr), -1);
            EXPECT_EQ(errno, EINVAL);
            EXPECT_FALSE(cxtest::is_connected(fd));
            ::close(fd);
        }
    });
}

// The outcome of one call: errno, or "ok" plus whether it is connected.
std::string outcome(int family, int type, const cx::address* src, const cx::address& dst) {
    int fd = family == AF_INET6 ? dual_stack_socket(type | SOCK_NONBLOCK)
                                : ::socket(AF_INET, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int rc = connectx(fd, src ? src->sa() : nullptr, src ? src->size() : 0, dst.sa(), dst.size(),
                      nullptr);
    std::string out = rc == 0 || errno == EINPROGRESS ? "ok" : strerrorname_np(errno);
    ::close(fd);
    return out;
}

// Wildcard, broadcast, multicast and loopback, as source and as destination, for UDP and TCP:
// the IPv4-mapped form on a dual-stack socket is answered as the IPv4 form on an IPv4 socket.
TEST(UdpDuplicateNetns, SpecialAddressesAnswerTheSameInBothForms) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        int l = cxtest::tcp_listener(v4("127.0.1.1:7003"));
        const char* specials[] = {"0.0.0.0", "255.255.255.255", "224.0.0.251", "127.0.0.1"};
        for (int type : {SOCK_DGRAM, SOCK_STREAM}) {
            for (const char* ip : specials) {
                auto src4 = v4(ip), src6 = v4((std::string("::ffff:") + ip).c_str());
                auto to4 = v4("127.0.1.1:7003"), to6 = v4("[::ffff:127.0.1.1]:7003");
                EXPECT_EQ(outcome(AF_INET6, type, &src6, to6), outcome(AF_INET, type, &src4, to4))
                    << "source " << ip << (type == SOCK_STREAM ? " tcp" : " udp");
                auto dst4 = v4((std::string(ip) + ":7003").c_str());
                auto dst6 = v4((std::string("[::ffff:") + ip + "]:7003").c_str());
                EXPECT_EQ(outcome(AF_INET6, type, nullptr, dst6), outcome(AF_INET, type, nullptr, dst4))
                    << "destination " << ip << (type == SOCK_STREAM ? " tcp" : " udp");
            }
            // No datagram leaves from a group or the broadcast address.
            auto group = v4("224.0.0.251");
            EXPECT_EQ(outcome(AF_INET, type, &group, v4("127.0.1.1:7003")), "EINVAL");
        }
        ::close(l);
    });
}

// A flow bound to a device and one on no device share the 4-tuple as far as the receive path
// goes: whichever came first, the second is refused. `first_dev`/`second_dev`: how each socket is
// tied to lo (0 none, 1 opts.ifindex, 2 its own SO_BINDTOIFINDEX).
void device_case(int first_dev, int second_dev, uint16_t port) {
    const int lo = int(if_nametoindex("lo"));
    auto src = v4(("127.0.0.1:" + std::to_string(port)).c_str());
    auto dst = v4(("127.0.1.1:" + std::to_string(port + 1000)).c_str());
    auto connect_one = [&](int how) {
        int fd = udp_socket(AF_INET);
        connectx_opts o = on_device(how == 1 ? lo : 0);
        if (how == 2) {
            EXPECT_EQ(setsockopt(fd, SOL_SOCKET, SO_BINDTOIFINDEX, &lo, sizeof lo), 0);
        }
        return std::make_pair(fd, udp_connectx(fd, &src, dst, &o));
    };
    auto [a, ea] = connect_one(first_dev);
    ASSERT_EQ(ea, 0);
    auto [b, eb] = connect_one(second_dev);
    EXPECT_EQ(eb, EADDRINUSE) << "device " << first_dev << " then " << second_dev;
    EXPECT_FALSE(cxtest::is_connected(b));
    int dev = -1;
    socklen_t len = sizeof dev;
    getsockopt(b, SOL_SOCKET, SO_BINDTOIFINDEX, &dev, &len);
    EXPECT_EQ(dev, second_dev == 2 ? lo : 0) << "the device as it was";
    expect_no_duplicates();
    ::close(a);
    ::close(b);
}

TEST(UdpDuplicateNetns, DeviceBoundAndUnboundFlowsNeverShareATupleInEitherOrder) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        uint16_t port = 5010;
        for (int first : {0, 1, 2}) {
            for (int second : {0, 1, 2}) device_case(first, second, port++);
        }
    });
}

// A search on a device-bound socket, or next to device-bound flows, stops at the range.
TEST(UdpDuplicateNetns, SearchNextToDeviceBoundFlowsStopsAtTheRange) {
    CXTEST_REQUIRE_NETNS();
    cxtest::netns_options opt;
    opt.port_lo = 40000;
    opt.port_hi = 40007;
    cxtest::run_in_netns(opt, [] {
        const int lo = int(if_nametoindex("lo"));
        auto ip = v4("127.0.0.1");
        auto dst = v4("127.0.1.1:53");
        std::vector<int> held;
        for (int i = 0; i < 8; ++i) {
            int fd = udp_socket(AF_INET);
            connectx_opts o = on_device(i % 2 ? lo : 0);
            ASSERT_EQ(udp_connectx(fd, &ip, dst, &o), 0) << i;
            held.push_back(fd);
        }
        for (int dev : {0, lo}) {
            int fd = udp_socket(AF_INET);
            connectx_opts o = on_device(dev);
            EXPECT_EQ(udp_connectx(fd, &ip, dst, &o), EAGAIN) << "device " << dev;
            ::close(fd);
        }
        expect_no_duplicates();
        for (int fd : held) ::close(fd);
    });
}

// Link-local flows are tied to their scope's device; a flow of the same tuple from a socket
// bound there by SO_BINDTOIFINDEX is the same flow.
TEST(UdpDuplicateNetns, LinkLocalScopeAndBoundDeviceAreTheSameTie) {
    CXTEST_REQUIRE_NETNS();
    cxtest::netns_options opt;
    opt.dummy = true;
    cxtest::run_in_netns(opt, [] {
        const int dummy = int(if_nametoindex("dummy0"));
        auto src = v4("[fe80::1%dummy0]:5030");
        auto dst = v4("[fe80::2%dummy0]:6030");
        int a = udp_socket(AF_INET6);
        ASSERT_EQ(udp_connectx(a, &src, dst), 0);
        int b = udp_socket(AF_INET6);
        ASSERT_EQ(setsockopt(b, SOL_SOCKET, SO_BINDTOIFINDEX, &dummy, sizeof dummy), 0);
        EXPECT_EQ(udp_connectx(b, &src, dst), EADDRINUSE);
        connectx_opts o = on_device(dummy);
        int c = udp_socket(AF_INET6);
        EXPECT_EQ(udp_connectx(c, &src, dst, &o), EADDRINUSE);
        expect_no_duplicates();
        ::close(a), ::close(b), ::close(c);
    });
}

}  // namespace
