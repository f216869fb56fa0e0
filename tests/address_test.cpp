// address_test.cpp - cx::address parses and prints numeric IPv4/IPv6 forms, never resolving names.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <connectx/connectx.hpp>

namespace {

std::string round_trip(const char* text) {
    auto a = cx::address::parse(text);
    return a ? a->to_string() : "error " + std::to_string(a.error().value());
}

TEST(Address, ParsesAndPrintsNumericForms) {
    EXPECT_EQ(round_trip("1.2.3.4:80"), "1.2.3.4:80");
    EXPECT_EQ(round_trip("1.2.3.4"), "1.2.3.4:0");
    EXPECT_EQ(round_trip("[::1]:53"), "[::1]:53");
    EXPECT_EQ(round_trip("::1"), "[::1]:0");
    EXPECT_EQ(round_trip("[2001:db8::1]"), "[2001:db8::1]:0");
    EXPECT_EQ(round_trip("[::ffff:10.0.0.1]:9"), "[::ffff:10.0.0.1]:9");
    EXPECT_EQ(round_trip("[fe80::1%1]:53"), "[fe80::1%lo]:53");
    EXPECT_EQ(round_trip("[fe80::1%lo]:53"), "[fe80::1%lo]:53");
    EXPECT_EQ(round_trip("fe80::1%lo"), "[fe80::1%lo]:0");
    EXPECT_EQ(round_trip("0.0.0.0:65535"), "0.0.0.0:65535");
}

TEST(Address, RejectsNamesAndMalformedTextWithEinval) {
    for (const char* bad : {"", "localhost", "example.com:80", "1.2.3.4:", "1.2.3.4:65536",
                            "1.2.3.4:-1", "1.2.3.4:8a", "1.2.3", "[::1", "[::1]80", "[::1]:",
                            "::1:80:", "1.2.3.4%lo", "[fe80::1%]:1", "[fe80::1%nosuchif0]:1",
                            "[1.2.3.4]:80", "[::1]:99999999999"}) {
        auto a = cx::address::parse(bad);
        ASSERT_FALSE(a) << bad;
        EXPECT_EQ(a.error(), std::error_code(EINVAL, std::system_category())) << bad;
    }
}

TEST(Address, DefaultPortAppliesOnlyWithoutExplicitPort) {
    EXPECT_EQ(cx::address::parse("10.0.0.1", 443)->port(), 443);
    EXPECT_EQ(cx::address::parse("10.0.0.1:80", 443)->port(), 80);
    EXPECT_EQ(cx::address::parse("::1", 443)->port(), 443);
}

TEST(Address, ExposesNetworkOrderSockaddr) {
    auto a = cx::address::parse("10.1.2.3:258");
    ASSERT_TRUE(a);
    auto* sin = reinterpret_cast<const sockaddr_in*>(a->sa());
    EXPECT_EQ(a->size(), sizeof(sockaddr_in));
    EXPECT_EQ(sin->sin_port, htons(258));
    EXPECT_EQ(sin->sin_addr.s_addr, htonl(0x0a010203));
    auto b = cx::address::from_sockaddr(a->sa(), a->size());
    ASSERT_TRUE(b);
    EXPECT_EQ(*a, *b);
}

TEST(Address, FromSockaddrChecksFamilyAndLength) {
    sockaddr_in6 s6{};
    s6.sin6_family = AF_INET6;
    EXPECT_EQ(cx::address::from_sockaddr(reinterpret_cast<sockaddr*>(&s6), sizeof s6 - 1).error().value(),
              EINVAL);
    sockaddr sa{};
    sa.sa_family = AF_UNIX;
    EXPECT_EQ(cx::address::from_sockaddr(&sa, sizeof sa).error().value(), EAFNOSUPPORT);
    EXPECT_EQ(cx::address::from_sockaddr(nullptr, 0).error().value(), EINVAL);
}

TEST(Address, ClassifiesWildcardMappedAndLinkLocal) {
    EXPECT_TRUE(cx::address::parse("0.0.0.0")->is_wildcard());
    EXPECT_TRUE(cx::address::parse("::")->is_wildcard());
    EXPECT_FALSE(cx::address::parse("::1")->is_wildcard());
    EXPECT_TRUE(cx::address::parse("::ffff:1.2.3.4")->is_v4_mapped());
    EXPECT_FALSE(cx::address::parse("1.2.3.4")->is_v4_mapped());
    EXPECT_TRUE(cx::address::parse("fe80::1%1")->is_link_local());
    EXPECT_EQ(cx::address::parse("fe80::1%1")->scope_id(), 1u);
    EXPECT_FALSE(cx::address::parse("2001:db8::1")->is_link_local());
}

// Each special IPv4 address is in its class in both forms: a.b.c.d and ::ffff:a.b.c.d.
TEST(Address, MappedFormsShareTheClassOfTheirIpv4Address) {
    struct row {
        const char* v4;
        bool wildcard, multicast, broadcast;
    } rows[] = {{"0.0.0.0", true, false, false},
                {"255.255.255.255", false, false, true},
                {"224.0.0.251", false, true, false},
                {"239.255.255.250", false, true, false},
                {"127.0.0.1", false, false, false},
                {"192.0.2.1", false, false, false}};
    for (const row& r : rows) {
        auto plain = *cx::address::parse(r.v4);
        auto mapped = *cx::address::parse(std::string("::ffff:") + r.v4);
        for (const auto& a : {plain, mapped}) {
            EXPECT_EQ(a.is_wildcard(), r.wildcard) << a.to_string();
            EXPECT_EQ(a.is_multicast(), r.multicast) << a.to_string();
            EXPECT_EQ(a.is_broadcast(), r.broadcast) << a.to_string();
            EXPECT_FALSE(a.needs_scope()) << a.to_string();
        }
    }
    EXPECT_TRUE(cx::address::parse("::")->is_wildcard());
    EXPECT_TRUE(cx::address::parse("ff05::2")->is_multicast());
}

// A scope is needed by link-local unicast and by interface- and link-local multicast only.
TEST(Address, LinkScopedAddressesNeedAScope) {
    for (const char* t : {"fe80::1", "febf::1", "ff02::1", "ff12::1:2", "ff01::1", "ff32::5"})
        EXPECT_TRUE(cx::address::parse(t)->needs_scope()) << t;
    for (const char* t : {"ff05::2", "ff0e::1", "ff08::1", "2001:db8::1", "::1", "fec0::1"})
        EXPECT_FALSE(cx::address::parse(t)->needs_scope()) << t;
}

TEST(Address, EqualityComparesIpPortAndScope) {
    EXPECT_EQ(*cx::address::parse("1.2.3.4:5"), *cx::address::parse("1.2.3.4:5"));
    EXPECT_NE(*cx::address::parse("1.2.3.4:5"), *cx::address::parse("1.2.3.4:6"));
    EXPECT_NE(*cx::address::parse("[fe80::1%1]:5"), *cx::address::parse("[fe80::1]:5"));
    EXPECT_NE(*cx::address::parse("::ffff:1.2.3.4"), *cx::address::parse("1.2.3.4"));
}

TEST(Address, ResultCarriesValueOrError) {
    cx::result<int> ok(5);
    cx::result<int> bad(cx::errno_code(EAGAIN));
    EXPECT_TRUE(ok.has_value());
    EXPECT_EQ(*ok, 5);
    EXPECT_FALSE(bad);
    EXPECT_EQ(bad.error().value(), EAGAIN);
    cx::result<std::string> s(std::string("x"));
    cx::result<std::string> copy = s;
    copy = bad.error();
    EXPECT_FALSE(copy);
    EXPECT_EQ(*s, "x");
}

}  // namespace
