// cli_test.cpp - connectx(1): the pure parts in process (arguments, URLs, HTTP framing, -w), then
// the real program in private namespaces against servers the tests start: a pinned source port
// twice in a row across TIME_WAIT, an ESTABLISHED 4-tuple, port ranges, UDP, IPv6, interfaces,
// -w, -v, HTTP options, unreachable and unresolvable hosts, timeouts, bad arguments.
//
// tools/connectx/CMakeLists.txt gives this test the program's path, its parts and its servers;
// without the tools (CONNECTX_BUILD_TOOLS=OFF) there is nothing to test.
#ifndef CONNECTX_CLI_PATH
#include <gtest/gtest.h>

TEST(CliProgram, NotBuilt) {
    GTEST_SKIP() << "connectx(1) is not built (CONNECTX_BUILD_TOOLS=OFF)";
}
#else

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli_args.hpp"
#include "exit_codes.hpp"
#include "http_message.hpp"
#include "socket_table.hpp"
#include "support/cli_run.hpp"
#include "support/cli_servers.hpp"
#include "support/netns.hpp"
#include "support/rtnl.hpp"
#include "url.hpp"
#include "write_out.hpp"

namespace {

using cxtest::dst_v4;
using cxtest::dst_v6;
using cxtest::v4;

// EXPECT_THAT(text, HasSubstr(part)) without needing gmock.
::testing::AssertionResult HasSubstrImpl(const std::string& text, const std::string& part) {
    if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "\"" << part << "\" not found in:\n" << text;
}
#define EXPECT_CONTAINS(text, part) EXPECT_TRUE(HasSubstrImpl((text), (part)))

// Servers listen on fixed ports outside the namespace's ip_local_port_range (40000-40063): a
// listener on a port of the range would make the kernel skip that port for connect().
constexpr uint16_t kHttpPort = 8080;
constexpr uint16_t kEchoPort = 7007;

cxtest::cli_result cli(const std::vector<std::string>& args, const std::string& input = "",
                       int timeout_s = 30) {
    return cxtest::run_program(CONNECTX_CLI_PATH, args, input, timeout_s);
}

std::string describe(const cxtest::cli_result& r) {
    return "exit " + std::to_string(r.exit) + "\n--- stdout:\n" + r.out + "\n--- stderr:\n" + r.err;
}

std::string http_url(const cx::address& at, const std::string& path = "/") {
    return "http://" + at.to_string() + path;
}

// State of the IPv4 TCP socket local_port -> remote_port from /proc/net/tcp (this namespace),
// as the kernel's number (1 ESTABLISHED, 6 TIME_WAIT), or -1 when there is none.
int tcp_state(uint16_t local_port, uint16_t remote_port) {
    std::ifstream f("/proc/net/tcp");
    std::string line;
    std::getline(f, line);  // header
    while (std::getline(f, line)) {
        std::istringstream in(line);
        std::string slot, local, remote, state;
        in >> slot >> local >> remote >> state;
        unsigned lp = std::stoul(local.substr(local.find(':') + 1), nullptr, 16);
        unsigned rp = std::stoul(remote.substr(remote.find(':') + 1), nullptr, 16);
        if (lp == local_port && rp == remote_port) return int(std::stoul(state, nullptr, 16));
    }
    return -1;
}

// Waits up to two seconds for the socket local_port -> remote_port to reach `state`: the peer's
// close, which moves it on from FIN_WAIT2, happens on the server's thread.
int wait_tcp_state(uint16_t local_port, uint16_t remote_port, int state) {
    int now = tcp_state(local_port, remote_port);
    for (int i = 0; i < 200 && now != state; ++i) {
        ::usleep(10'000);
        now = tcp_state(local_port, remote_port);
    }
    return now;
}

// An ESTABLISHED connection src -> dst made with connectx (SO_REUSEADDR on a fixed port), as
// another program pinning the same source would hold it.
int hold_connection(const cx::address& src, const cx::address& dst) {
    int fd = cxtest::socket_for(dst, SOCK_STREAM);
    auto c = cx::connect(fd, src, dst);
    EXPECT_TRUE(c) << "hold " << src.to_string() << " -> " << dst.to_string() << ": "
                   << c.error().message();
    return fd;
}

// ---------------------------------------------------------------------------------------------
// Pure parts, in process.

TEST(CliArgs, ParsesCurlSpellingsBundlesAndInlineValues) {
    auto p =
        cxcli::parse_args({"-svo", "out.txt", "-XPUT", "--header", "A: b", "-H", "C: d",
                           "--local-port=40000-40009", "--interface", "lo", "--connect-timeout",
                           "1.5", "-m", "3", "-w", "%{local_port}", "-6", "http://[::1]:8080/x"});
    ASSERT_EQ(p.error, "");
    const auto& a = p.args;
    EXPECT_TRUE(a.silent);
    EXPECT_TRUE(a.verbose);
    EXPECT_EQ(a.output, "out.txt");
    EXPECT_EQ(a.method, "PUT");
    EXPECT_EQ(a.headers, (std::vector<std::string>{"A: b", "C: d"}));
    ASSERT_TRUE(a.local_port);
    EXPECT_EQ(a.local_port->lo, 40000);
    EXPECT_EQ(a.local_port->hi, 40009);
    EXPECT_EQ(a.interface_name, "lo");
    EXPECT_DOUBLE_EQ(a.connect_timeout, 1.5);
    EXPECT_DOUBLE_EQ(a.max_time, 3);
    EXPECT_EQ(a.write_out, "%{local_port}");
    EXPECT_EQ(a.family, AF_INET6);
    EXPECT_EQ(a.url, "http://[::1]:8080/x");

    auto s = cxcli::parse_args({"--source", "[2001:db8::1]:45001", "udp://h:53"});
    ASSERT_EQ(s.error, "");
    ASSERT_TRUE(s.args.source_ip);
    EXPECT_EQ(s.args.source_ip->to_string(false), "2001:db8::1");
    EXPECT_EQ(s.args.source_port, 45001);

    auto i = cxcli::parse_args({"--interface", "127.0.0.5", "--source", "127.0.0.5", "tcp://h:1"});
    ASSERT_EQ(i.error, "");
    EXPECT_EQ(i.args.interface_name, "");
    EXPECT_EQ(i.args.source_ip->to_string(false), "127.0.0.5");

    auto rest = cxcli::parse_args({"--", "-not-an-option"});
    ASSERT_EQ(rest.error, "");
    EXPECT_EQ(rest.args.url, "-not-an-option");
}

TEST(CliArgs, RejectsBadValuesWithTheOptionNamed) {
    struct bad {
        std::vector<std::string> argv;
        const char* says;
    };
    const bad cases[] = {
        {{"--nope", "u"}, "--nope: is unknown"},
        {{"-Z", "u"}, "-Z: is unknown"},
        {{"u", "-o"}, "-o: requires a value"},
        {{"--local-port", "0", "u"}, "--local-port"},
        {{"--local-port", "65536", "u"}, "--local-port"},
        {{"--local-port", "9-3", "u"}, "--local-port"},
        {{"--local-port", "1-", "u"}, "--local-port"},
        {{"--local-port", "x", "u"}, "--local-port"},
        {{"--source", "host.example", "u"}, "--source"},
        {{"--source", "0.0.0.0", "u"}, "--source"},
        {{"--source", "1.2.3.4:99999", "u"}, "--source"},
        {{"-m", "-1", "u"}, "-m"},
        {{"--connect-timeout", "1e3", "u"}, "--connect-timeout"},
        {{"-H", "no colon", "u"}, "-H"},
        {{"-X", "GET X", "u"}, "-X"},
        {{"--verbose=yes", "u"}, "takes no value"},
        {{}, "no URL"},
        {{"u1", "u2"}, "exactly one URL"},
        {{"--source", "1.2.3.4:5", "--local-port", "6", "u"}, "both set the source port"},
        {{"--source", "1.2.3.4", "--interface", "1.2.3.5", "u"}, "different addresses"},
        {{"-4", "--source", "::1", "u"}, "-4 given with an IPv6"},
        {{"-I", "-d", "x", "u"}, "-I"},
    };
    for (const auto& c : cases) {
        auto p = cxcli::parse_args(c.argv);
        EXPECT_CONTAINS(p.error, (c.says)) << "argv[1..]: " << ::testing::PrintToString(c.argv);
    }
    EXPECT_EQ(cxcli::parse_port_span("7")->hi, 7);
    EXPECT_FALSE(cxcli::parse_seconds(""));
    EXPECT_FALSE(cxcli::parse_seconds("1.2.3"));
    EXPECT_DOUBLE_EQ(*cxcli::parse_seconds("0.25"), 0.25);
}

TEST(CliUrl, ParsesTheThreeSchemesAndDefaults) {
    auto h = cxcli::parse_url("http://example.com");
    ASSERT_EQ(h.exit, 0) << h.error;
    EXPECT_EQ(h.url.host, "example.com");
    EXPECT_EQ(h.url.port, 80);
    EXPECT_EQ(h.url.target, "/");
    EXPECT_EQ(cxcli::host_header(h.url), "example.com");

    auto q = cxcli::parse_url("HTTP://h:8080?x=1#frag");
    ASSERT_EQ(q.exit, 0) << q.error;
    EXPECT_EQ(q.url.target, "/?x=1");
    EXPECT_EQ(cxcli::host_header(q.url), "h:8080");

    auto v6 = cxcli::parse_url("http://[fe80::1%25eth0]:81/p");
    ASSERT_EQ(v6.exit, 0) << v6.error;
    EXPECT_EQ(v6.url.host, "fe80::1%eth0");
    EXPECT_TRUE(v6.url.ipv6_literal);
    EXPECT_EQ(cxcli::host_header(v6.url), "[fe80::1]:81");

    auto u = cxcli::parse_url("udp://10.0.0.1:53");
    ASSERT_EQ(u.exit, 0) << u.error;
    EXPECT_EQ(u.url.scheme, cxcli::scheme::udp);
    EXPECT_EQ(u.url.port, 53);

    auto bare = cxcli::parse_url("localhost:8080/a");
    ASSERT_EQ(bare.exit, 0) << bare.error;
    EXPECT_EQ(bare.url.scheme, cxcli::scheme::http);
    EXPECT_EQ(bare.url.target, "/a");
}

TEST(CliUrl, RejectsMalformedAndUnsupportedWithCurlStatus) {
    EXPECT_EQ(cxcli::parse_url("ftp://h/").exit, cxcli::exit_unsupported_protocol);
    for (const char* bad : {"tcp://h", "udp://h:0", "http://h:65536/", "http://:80/",
                            "http://[::1/", "http://::1/", "http://u@h/", "tcp://h:1/path",
                            "http://h/a b", "http://[zz]/", "http://h:/", "http://[::1]x/"})
        EXPECT_EQ(cxcli::parse_url(bad).exit, cxcli::exit_url_malformed) << bad;
}

// Collects what the parser reports.
struct recording_sink : cxcli::http_response_sink {
    int status = 0;
    std::string head, body;
    int interim = 0;
    bool on_head(int s, std::string_view raw) override {
        status = s;
        head = raw;
        return true;
    }
    void on_interim(std::string_view) override { ++interim; }
    bool on_body(std::string_view b) override {
        body += b;
        return true;
    }
};

// Feeds `wire` one byte at a time (the hardest split), then EOF when `close` is set.
cxcli::http_response_parser::status parse_bytewise(const std::string& wire, recording_sink& sink,
                                                   bool head_request = false, bool close = true) {
    cxcli::http_response_parser p(head_request);
    auto st = cxcli::http_response_parser::status::more;
    for (char c : wire) {
        st = p.feed(std::string_view(&c, 1), sink);
        if (st != cxcli::http_response_parser::status::more) return st;
    }
    return close ? p.finish(sink) : st;
}

TEST(CliHttpParser, FramesBodiesWhateverTheSplit) {
    using st = cxcli::http_response_parser::status;
    {
        recording_sink s;
        EXPECT_EQ(parse_bytewise("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA", s, false,
                                 false),
                  st::done);
        EXPECT_EQ(s.status, 200);
        EXPECT_EQ(s.body, "hello");
        EXPECT_EQ(s.head, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
    }
    {
        recording_sink s;
        EXPECT_EQ(parse_bytewise("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n"
                                 "Transfer-Encoding: gzip, chunked\r\nContent-Length: 99\r\n\r\n"
                                 "4;x=y\r\nabcd\r\n0\r\nT: v\r\n\r\n",
                                 s, false, false),
                  st::done);
        EXPECT_EQ(s.interim, 1);
        EXPECT_EQ(s.status, 201);
        EXPECT_EQ(s.body, "abcd");
    }
    {
        recording_sink s;  // no framing: the body runs to the close; bare LF line ends
        EXPECT_EQ(parse_bytewise("HTTP/1.0 200 OK\nServer: x\n\nto the end", s), st::done);
        EXPECT_EQ(s.body, "to the end");
    }
    {
        recording_sink s;  // HEAD: no body whatever Content-Length says
        EXPECT_EQ(parse_bytewise("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", s, true, false),
                  st::done);
        EXPECT_EQ(s.body, "");
    }
    {
        recording_sink s;
        EXPECT_EQ(parse_bytewise("HTTP/1.1 204 No Content\r\n\r\n", s, false, false), st::done);
    }
}

TEST(CliHttpParser, ReportsEmptyTruncatedAndMalformedReplies) {
    using f = cxcli::http_response_parser::failure;
    auto why = [](const std::string& wire) {
        recording_sink s;
        cxcli::http_response_parser p(false);
        if (p.feed(wire, s) == cxcli::http_response_parser::status::more) p.finish(s);
        return p.why();
    };
    EXPECT_EQ(why(""), f::empty);
    EXPECT_EQ(why("HTTP/1.1 200 OK\r\nContent-Le"), f::truncated_head);
    EXPECT_EQ(why("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"), f::truncated_body);
    EXPECT_EQ(why("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"),
              f::truncated_body);
    EXPECT_EQ(why("SSH-2.0-OpenSSH\r\n"), f::malformed);
    EXPECT_EQ(why("HTTP/1.1 20 OK\r\n"), f::malformed);
    EXPECT_EQ(why("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n"), f::malformed);
    EXPECT_EQ(why("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
              f::malformed);
    EXPECT_EQ(why("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), f::malformed);
    EXPECT_EQ(why("HTTP/1.1 200 OK\r\nno colon\r\n\r\n"), f::malformed);
}

TEST(CliHttpRequest, UserHeadersReplaceOrRemoveDefaults) {
    std::string body = "a=1";
    cxcli::http_request_spec spec;
    spec.method = "POST";
    spec.target = "/p";
    spec.host = "h:81";
    spec.user_agent = "ua";
    spec.headers = {"accept: text/plain", "User-Agent:", "X-New: 1", "Content-Type: text/x"};
    spec.body = &body;
    EXPECT_EQ(cxcli::build_request(spec),
              "POST /p HTTP/1.1\r\nHost: h:81\r\naccept: text/plain\r\nContent-Length: 3\r\n"
              "Content-Type: text/x\r\nX-New: 1\r\n\r\na=1");
}

TEST(CliWriteOut, ExpandsVariablesEscapesAndReportsUnknownNames) {
    cxcli::transfer_report r;
    r.local = *cx::address::parse("127.0.0.1:45001");
    r.remote = *cx::address::parse("[2001:db8::1:1]:8080");
    r.http_code = 200;
    r.time_connect = 0.25;
    r.time_total = 1.5;
    r.technique = "reuseaddr";
    std::vector<std::string> unknown;
    EXPECT_EQ(cxcli::format_write_out("%{local_ip}:%{local_port} %{remote_ip} %{remote_port} "
                                      "%{http_code} %{time_connect} %{time_total} %{technique}"
                                      "%{nope}%%\\t\\n\\q%{",
                                      r, unknown),
              "127.0.0.1:45001 2001:db8::1:1 8080 200 0.250000 1.500000 reuseaddr%\t\n\\q%{");
    EXPECT_EQ(unknown, std::vector<std::string>{"nope"});
    cxcli::transfer_report none;
    EXPECT_EQ(cxcli::format_write_out("%{http_code} [%{local_ip}] %{local_port}", none, unknown),
              "000 [] 0");
}

TEST(CliSocketTable, FindsTheStateOfAnExactTupleInProcNetText) {
    // Lines as the kernel prints them (little-endian words): 127.0.0.1:45001 -> 127.0.1.1:8080 in
    // TIME_WAIT, and a listener on 0.0.0.0:2024.
    const std::string v4 =
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid\n"
        "   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0\n"
        "   1: 0100007F:AFC9 0101007F:1F90 06 00000000:00000000 03:00001770 00000000     0\n";
    auto local = *cx::address::parse("127.0.0.1:45001");
    auto remote = *cx::address::parse("127.0.1.1:8080");
    EXPECT_EQ(cxcli::find_socket_state(v4, local, remote), 6);
    EXPECT_EQ(cxcli::find_socket_state(v4, remote, local), std::nullopt);
    EXPECT_EQ(cxcli::find_socket_state(v4, *cx::address::parse("0.0.0.0:2024"),
                                       *cx::address::parse("0.0.0.0:0")),
              10);
    const std::string v6 =
        "  sl  local_address                         remote_address                        st\n"
        "   0: B80D0120000000000000000001000000:AFC9 B80D0120000000000000000001000100:1F90 01\n";
    EXPECT_EQ(cxcli::find_socket_state(v6, *cx::address::parse("[2001:db8::1]:45001"),
                                       *cx::address::parse("[2001:db8::1:1]:8080")),
              1);
    EXPECT_EQ(cxcli::tcp_state_name(6), "TIME_WAIT");
    EXPECT_EQ(cxcli::tcp_state_name(1), "ESTABLISHED");
    EXPECT_EQ(cxcli::tcp_state_name(99), "state 99");
}

// ---------------------------------------------------------------------------------------------
// The program, without touching any network: usage errors and early failures.

TEST(CliProgram, BadArgumentsExitTwoAndSayWhy) {
    for (const std::vector<std::string>& argv :
         std::vector<std::vector<std::string> >{{},
                                                {"--bogus", "http://h/"},
                                                {"--local-port", "70000", "http://h/"},
                                                {"--local-port", "5-3", "http://h/"},
                                                {"-m"},
                                                {"http://a/", "http://b/"},
                                                {"-X", "PUT", "tcp://h:1"}}) {
        auto r = cli(argv);
        EXPECT_EQ(r.exit, 2) << ::testing::PrintToString(argv) << "\n" << describe(r);
        EXPECT_CONTAINS(r.err, ("connectx --help"));
        EXPECT_EQ(r.out, "");
    }
    auto url = cli({"http://h:0/"});
    EXPECT_EQ(url.exit, 3) << describe(url);
    auto proto = cli({"gopher://h/"});
    EXPECT_EQ(proto.exit, 1) << describe(proto);
    auto ifc = cli({"--interface", "nosuchif0", "http://127.0.0.1:1/"});
    EXPECT_EQ(ifc.exit, 45) << describe(ifc);
    EXPECT_CONTAINS(ifc.err, ("nosuchif0"));
    auto silent = cli({"-s", "ftp://h/"});
    EXPECT_EQ(silent.exit, 1);
    EXPECT_EQ(silent.err, "");
    auto help = cli({"--help"});
    EXPECT_EQ(help.exit, 0);
    EXPECT_CONTAINS(help.out, ("--local-port"));
    EXPECT_CONTAINS(help.out, ("45 the source could not be used"));
    auto missing = cli({"-d", "@/nonexistent/file", "http://h/"});
    EXPECT_EQ(missing.exit, 26) << describe(missing);
}

// ---------------------------------------------------------------------------------------------
// The program in private namespaces.

class CliNetns : public ::testing::Test {
protected:
    void SetUp() override { CXTEST_REQUIRE_NETNS(); }
};

TEST_F(CliNetns, FixedLocalPortTwiceInARowReusesTheTimeWaitTuple) {
    cxtest::run_in_netns([] {
        cxtest::http_server srv({dst_v4(0, kHttpPort)});
        const uint16_t sport = 45001;
        std::string url = http_url(dst_v4(0, srv.port()));
        std::vector<std::string> args = {"--local-port", std::to_string(sport), "-w",
                                         "\n%{local_ip}:%{local_port}", url};
        auto first = cli(args);
        ASSERT_EQ(first.exit, 0) << describe(first);
        EXPECT_EQ(first.out, "hello\n\n127.0.0.1:45001");
        // The client closed first (keep-alive server): its end of the 4-tuple is in TIME_WAIT, and
        // a plain bind() of the port, as curl --local-port does it, is refused.
        ASSERT_EQ(wait_tcp_state(sport, srv.port(), 6), 6) << "TIME_WAIT expected";
        auto plain = v4("127.0.0.1:45001");
        int fd = cxtest::socket_for(plain, SOCK_STREAM);
        EXPECT_EQ(::bind(fd, plain.sa(), plain.size()), -1);
        EXPECT_EQ(errno, EADDRINUSE);
        ::close(fd);
        // At once: for a port the caller bound, connect() takes over a TIME_WAIT 4-tuple whose
        // connection used TCP timestamps (tcp_twsk_unique() without a twp), whatever
        // tcp_tw_reuse says; that sysctl governs only ports connect() picks by itself.
        auto second = cli(args);
        ASSERT_EQ(second.exit, 0) << describe(second);
        EXPECT_EQ(second.out, "hello\n\n127.0.0.1:45001");
        ASSERT_EQ(wait_tcp_state(sport, srv.port(), 6), 6) << "TIME_WAIT expected";
        ASSERT_EQ(cxtest::write_sysctl("net/ipv4/tcp_tw_reuse", "0"), 0);
        auto third = cli(args);
        ASSERT_EQ(third.exit, 0) << describe(third);
        EXPECT_EQ(srv.peers(), std::vector<std::string>(3, "127.0.0.1:45001"));
    });
}

TEST_F(CliNetns, FixedLocalPortOverTimeWaitWithoutTimestampsNamesTheTuple) {
    cxtest::run_in_netns([] {
        // Without TCP timestamps the kernel refuses to take over the TIME_WAIT 4-tuple.
        ASSERT_EQ(cxtest::write_sysctl("net/ipv4/tcp_timestamps", "0"), 0);
        cxtest::http_server srv({dst_v4(0, kHttpPort)});
        auto dst = dst_v4(0, srv.port());
        auto first = cli({"--local-port", "45010", "-o", "/dev/null", http_url(dst)});
        ASSERT_EQ(first.exit, 0) << describe(first);
        ASSERT_EQ(wait_tcp_state(45010, srv.port(), 6), 6) << "TIME_WAIT expected";
        auto again = cli({"--local-port", "45010", "-o", "/dev/null", http_url(dst)});
        EXPECT_EQ(again.exit, 45) << describe(again);
        EXPECT_CONTAINS(again.err, "4-tuple 127.0.0.1:45010 -> " + dst.to_string() +
                                       " is already in use (TIME_WAIT");
        // A range moves on to the next port instead.
        auto range = cli({"--local-port", "45010-45011", "-o", "/dev/null", "-w", "%{local_port}",
                          http_url(dst)});
        EXPECT_EQ(range.exit, 0) << describe(range);
        EXPECT_EQ(range.out, "45011");
    });
}

TEST_F(CliNetns, FixedLocalPortWithTheTupleEstablishedFailsNamingTheTuple) {
    cxtest::run_in_netns([] {
        cxtest::http_server srv({dst_v4(0, kHttpPort), dst_v4(1, kHttpPort)});
        auto dst = dst_v4(0, srv.port(0));
        int held = hold_connection(v4("127.0.0.1:45002"), dst);
        auto r = cli({"--local-port", "45002", http_url(dst)});
        EXPECT_EQ(r.exit, 45) << describe(r);
        EXPECT_CONTAINS(r.err, "4-tuple 127.0.0.1:45002 -> " + dst.to_string() +
                                   " is already in use (ESTABLISHED)");
        EXPECT_EQ(r.out, "");
        // Same source port toward another destination: another 4-tuple, free.
        auto other = cli({"--local-port", "45002", "-w", "%{local_port}", "-o", "/dev/null",
                          http_url(dst_v4(1, srv.port(1)))});
        EXPECT_EQ(other.exit, 0) << describe(other);
        EXPECT_EQ(other.out, "45002");
        ::close(held);
    });
}

TEST_F(CliNetns, LocalPortRangeMovesOnPastATakenTuple) {
    cxtest::run_in_netns([] {
        cxtest::http_server srv({dst_v4(0, kHttpPort), dst_v4(1, kHttpPort), dst_v4(2, kHttpPort),
                                 dst_v4(3, kHttpPort)});
        // Inside the namespace's ip_local_port_range (40000-40063): the kernel picks
        // (IP_LOCAL_PORT_RANGE, 6.3+; before, the library tries explicit ports).
        auto dst = dst_v4(0, srv.port(0));
        int held = hold_connection(v4("127.0.0.1:40010"), dst);
        auto r = cli({"--local-port", "40010-40011", "-w", "%{local_port} %{technique}", "-o",
                      "/dev/null", http_url(dst)});
        EXPECT_EQ(r.exit, 0) << describe(r);
        EXPECT_TRUE(r.out == "40011 local-port-range" || r.out == "40011 explicit-ports") << r.out;
        ::close(held);
        // Outside it: explicit ports. The start is random, so do it toward four destinations;
        // whichever port comes first, the free one must be found.
        for (int d = 0; d < 4; ++d) {
            auto to = dst_v4(d, srv.port(size_t(d)));
            int h = hold_connection(v4("127.0.0.1:50000"), to);
            auto x = cli({"--local-port", "50000-50001", "-w", "%{local_port} %{technique}", "-o",
                          "/dev/null", http_url(to)});
            EXPECT_EQ(x.exit, 0) << describe(x);
            EXPECT_EQ(x.out, "50001 explicit-ports");
            ::close(h);
        }
    });
}

TEST_F(CliNetns, LocalPortRangeWithEveryTupleTakenExits45) {
    cxtest::run_in_netns([] {
        cxtest::http_server srv({dst_v4(0, kHttpPort)});
        auto dst = dst_v4(0, srv.port());
        int a = hold_connection(v4("127.0.0.1:50000"), dst);
        int b = hold_connection(v4("127.0.0.1:50001"), dst);
        auto r = cli({"--local-port", "50000-50001", http_url(dst)});
        EXPECT_EQ(r.exit, 45) << describe(r);
        EXPECT_CONTAINS(r.err, ("no free source port in 50000-50001 toward " + dst.to_string()));
        ::close(a);
        ::close(b);
    });
}

TEST_F(CliNetns, VerboseTraceShowsTheTupleTechniqueAndHeads) {
    cxtest::run_in_netns([] {
        cxtest::http_server srv({dst_v4(0, kHttpPort)});
        auto dst = dst_v4(0, srv.port());
        auto r = cli({"-v", "--source", "127.0.0.1:45003", http_url(dst)});
        ASSERT_EQ(r.exit, 0) << describe(r);
        EXPECT_EQ(r.out, "hello\n");
        std::string port = std::to_string(dst.port());
        EXPECT_CONTAINS(r.err, ("*   Trying 127.0.1.1:" + port + "...\n"));
        EXPECT_CONTAINS(r.err, ("* Connected to 127.0.1.1 (127.0.1.1) port " + port +
                                " from 127.0.0.1 port 45003 (technique reuseaddr)\n"));
        EXPECT_CONTAINS(r.err, ("> GET / HTTP/1.1\n> Host: 127.0.1.1:" + port + "\n"));
        EXPECT_CONTAINS(r.err, ("< HTTP/1.1 200 OK\n"));
        auto plain = cli({"-v", "--source", "127.0.0.1", http_url(dst)});
        EXPECT_CONTAINS(plain.err, ("(technique bind-no-port)"));
    });
}

TEST_F(CliNetns, WriteOutReportsTupleStatusSizesAndTimes) {
    cxtest::run_in_netns([] {
        cxtest::http_server srv({dst_v4(0, kHttpPort)});
        auto dst = dst_v4(0, srv.port());
        auto r = cli({"-o", "/dev/null", "-w",
                      "%{local_ip} %{local_port} %{remote_ip} %{remote_port} %{http_code} "
                      "%{size_download} %{num_connects} %{exitcode}|%{time_connect} %{time_total}",
                      "--local-port", "45004", http_url(dst)});
        ASSERT_EQ(r.exit, 0) << describe(r);
        std::string head = r.out.substr(0, r.out.find('|'));
        EXPECT_EQ(head, "127.0.0.1 45004 127.0.1.1 " + std::to_string(dst.port()) + " 200 6 1 0");
        double t_connect = -1, t_total = -1;
        ASSERT_EQ(std::sscanf(r.out.c_str() + r.out.find('|') + 1, "%lf %lf", &t_connect, &t_total),
                  2);
        EXPECT_GT(t_connect, 0);
        EXPECT_LE(t_connect, t_total);
        EXPECT_LT(t_total, r.seconds);
        // On failure -w still prints, with what is known.
        auto refused = cli({"-w", "%{http_code} %{exitcode} [%{local_ip}]", "http://127.0.1.1:1/"});
        EXPECT_EQ(refused.exit, 7) << describe(refused);
        EXPECT_EQ(refused.out, "000 7 []");
    });
}

TEST_F(CliNetns, HttpMethodHeadersAndDataReachTheServer) {
    cxtest::run_in_netns([] {
        cxtest::http_server srv({dst_v4(0, kHttpPort)});
        auto dst = dst_v4(0, srv.port());
        auto r = cli({"-X", "PUT", "-H", "X-Test: 1", "-H", "Accept:", "-A", "agent/7", "-d", "k=v",
                      http_url(dst, "/echo")});
        ASSERT_EQ(r.exit, 0) << describe(r);
        EXPECT_EQ(r.out,
                  "PUT /echo HTTP/1.1\r\nHost: 127.0.1.1:" + std::to_string(dst.port()) +
                      "\r\nUser-Agent: agent/7\r\nContent-Length: 3\r\n"
                      "Content-Type: application/x-www-form-urlencoded\r\nX-Test: 1\r\n\r\nk=v");
        auto post = cli({"-d", "@-", http_url(dst, "/echo")}, "from stdin");
        ASSERT_EQ(post.exit, 0) << describe(post);
        EXPECT_EQ(post.out.substr(0, 5), "POST ");
        EXPECT_EQ(post.out.substr(post.out.size() - 10), "from stdin");
    });
}

TEST_F(CliNetns, HttpBodiesHeadsAndOutputFile) {
    cxtest::run_in_netns([] {
        cxtest::http_server srv({dst_v4(0, kHttpPort)});
        auto dst = dst_v4(0, srv.port());
        auto chunked = cli({http_url(dst, "/chunked")});
        EXPECT_EQ(chunked.exit, 0) << describe(chunked);
        EXPECT_EQ(chunked.out, "hello\n");
        auto closed = cli({http_url(dst, "/close")});
        EXPECT_EQ(closed.exit, 0) << describe(closed);
        EXPECT_EQ(closed.out, "bye\n");
        auto inc = cli({"-i", http_url(dst)});
        EXPECT_EQ(inc.out,
                  "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nX-Server: cxtest\r\n\r\nhello\n");
        auto head = cli({"-I", http_url(dst)});
        EXPECT_EQ(head.exit, 0) << describe(head);
        EXPECT_EQ(head.out, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nX-Server: cxtest\r\n\r\n");
        char path[] = "/tmp/cxcli-out-XXXXXX";
        int fd = ::mkstemp(path);
        ASSERT_GE(fd, 0);
        ::close(fd);
        auto out = cli({"-o", path, http_url(dst)});
        EXPECT_EQ(out.exit, 0) << describe(out);
        EXPECT_EQ(out.out, "");
        std::ifstream f(path);
        std::string content((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        EXPECT_EQ(content, "hello\n");
        ::unlink(path);
        auto unwritable = cli({"-o", "/nonexistent-dir/x", http_url(dst)});
        EXPECT_EQ(unwritable.exit, 23) << describe(unwritable);
        auto full = cli({"-o", "/dev/full", http_url(dst)});
        EXPECT_EQ(full.exit, 23) << describe(full);
        EXPECT_CONTAINS(full.err, "No space left on device");
    });
}

TEST_F(CliNetns, HttpErrorsMapToCurlStatus) {
    cxtest::run_in_netns([] {
        cxtest::http_server srv({dst_v4(0, kHttpPort)});
        auto dst = dst_v4(0, srv.port());
        auto missing = cli({http_url(dst, "/missing")});
        EXPECT_EQ(missing.exit, 0) << describe(missing);  // like curl: a 404 is a response
        EXPECT_EQ(missing.out, "not found\n");
        auto fail = cli({"-f", http_url(dst, "/missing")});
        EXPECT_EQ(fail.exit, 22) << describe(fail);
        EXPECT_EQ(fail.out, "");
        auto empty = cli({http_url(dst, "/empty")});
        EXPECT_EQ(empty.exit, 52) << describe(empty);
        EXPECT_CONTAINS(empty.err, ("Empty reply from server"));
        auto partial = cli({http_url(dst, "/short")});
        EXPECT_EQ(partial.exit, 18) << describe(partial);
        EXPECT_EQ(partial.out, "abc");
        // Not HTTP at all: a TCP echo sends our own request line back.
        cxtest::echo_server echo(dst_v4(1, kEchoPort), SOCK_STREAM);
        auto weird = cli({http_url(dst_v4(1, echo.port()))});
        EXPECT_EQ(weird.exit, 8) << describe(weird);
    });
}

TEST_F(CliNetns, Ipv6SourceAddressAndPortPinned) {
    cxtest::run_in_netns([] {
        cxtest::http_server srv({dst_v6(0, kHttpPort)});
        auto dst = dst_v6(0, srv.port());
        auto r = cli({"--source", "[2001:db8::1]:45005", "-w",
                      "\n%{local_ip} %{local_port} %{remote_ip}", http_url(dst)});
        ASSERT_EQ(r.exit, 0) << describe(r);
        EXPECT_EQ(r.out, "hello\n\n2001:db8::1 45005 2001:db8::1:1");
        // An IPv4 source cannot reach an IPv6-only host.
        auto mismatch = cli({"--source", "127.0.0.1", http_url(dst)});
        EXPECT_EQ(mismatch.exit, 45) << describe(mismatch);
        auto v4only = cli({"-4", http_url(dst)});
        EXPECT_NE(v4only.exit, 0) << describe(v4only);
    });
}

TEST_F(CliNetns, LinkLocalDestinationWithZoneAndInterface) {
    cxtest::netns_options opt;
    opt.dummy = true;  // dummy0 with fe80::1 and fe80::2
    cxtest::run_in_netns(opt, [] {
        cxtest::http_server srv({v4("[fe80::2%dummy0]:8080")});
        auto r = cli({"--interface", "dummy0", "--local-port", "45011", "-w",
                      "\n%{local_port} %{remote_ip}", "http://[fe80::2%25dummy0]:8080/"});
        ASSERT_EQ(r.exit, 0) << describe(r);
        EXPECT_EQ(r.out, "hello\n\n45011 fe80::2%dummy0");
        // Without a zone the address names no link: --interface gives it one, else exit 3.
        auto by_interface = cli({"--interface", "dummy0", "-o", "/dev/null", "-w", "%{remote_ip}",
                                 "http://[fe80::2]:8080/"});
        EXPECT_EQ(by_interface.exit, 0) << describe(by_interface);
        EXPECT_EQ(by_interface.out, "fe80::2%dummy0");
        auto nozone = cli({"http://[fe80::2]:8080/"});
        EXPECT_EQ(nozone.exit, 3) << describe(nozone);
        EXPECT_CONTAINS(nozone.err, "link-local address fe80::2 needs a zone");
    });
}

TEST_F(CliNetns, InterfaceByNameOrAddress) {
    cxtest::run_in_netns([] {
        cxtest::http_server srv({dst_v4(0, kHttpPort)});
        auto dst = dst_v4(0, srv.port());
        auto by_ip = cli(
            {"--interface", "127.0.0.5", "-w", "%{local_ip}", "-o", "/dev/null", http_url(dst)});
        EXPECT_EQ(by_ip.exit, 0) << describe(by_ip);
        EXPECT_EQ(by_ip.out, "127.0.0.5");
        auto by_name = cli({"-v", "--interface", "lo", "--local-port", "45006", "-w",
                            "%{local_port}", "-o", "/dev/null", http_url(dst)});
        EXPECT_EQ(by_name.exit, 0) << describe(by_name);
        EXPECT_EQ(by_name.out, "45006");
        EXPECT_CONTAINS(by_name.err, ("interface lo (index 1)"));
        auto not_local = cli({"--interface", "192.0.2.1", http_url(dst)});
        EXPECT_EQ(not_local.exit, 45) << describe(not_local);
        EXPECT_CONTAINS(not_local.err, ("192.0.2.1 is not an address of this host"));
    });
}

TEST_F(CliNetns, UnreachableAndUnresolvableDestinations) {
    cxtest::run_in_netns([] {
        // The namespace routes nothing but loopback.
        auto unreachable = cli({"http://192.0.2.1:80/"});
        EXPECT_EQ(unreachable.exit, 7) << describe(unreachable);
        EXPECT_CONTAINS(unreachable.err, ("Network is unreachable"));
        auto refused = cli({"tcp://127.0.1.1:1"});
        EXPECT_EQ(refused.exit, 7) << describe(refused);
        EXPECT_CONTAINS(refused.err, ("Connection refused"));
        auto unresolved = cli({"http://no-such-host.invalid/"});
        EXPECT_EQ(unresolved.exit, 6) << describe(unresolved);
        EXPECT_CONTAINS(unresolved.err, ("Could not resolve host: no-such-host.invalid"));
        auto by_name = cli({"-w", "%{remote_ip}", "http://localhost:1/"});
        EXPECT_EQ(by_name.exit, 7) << describe(by_name);  // resolved (/etc/hosts), refused
    });
}

TEST_F(CliNetns, ConnectTimeoutAndMaxTime) {
    cxtest::netns_options opt;
    opt.dummy = true;
    cxtest::run_in_netns(opt, [] {
        // SYNs to a neighbour on a dummy interface vanish: the handshake never completes.
        ASSERT_EQ(cxtest::add_address("dummy0", "10.77.0.1", 24), 0);
        auto c = cli({"--connect-timeout", "0.5", "http://10.77.0.2:80/"});
        EXPECT_EQ(c.exit, 28) << describe(c);
        EXPECT_CONTAINS(c.err, ("Connection timed out after"));
        EXPECT_GE(c.seconds, 0.5);
        EXPECT_LT(c.seconds, 5);
        auto m = cli({"-m", "0.5", "http://10.77.0.2:80/"});
        EXPECT_EQ(m.exit, 28) << describe(m);
        EXPECT_CONTAINS(m.err, ("Operation timed out after"));
        // Connected, but the server never answers.
        cxtest::http_server srv({dst_v4(0, kHttpPort)});
        auto slow =
            cli({"-m", "0.5", "-w", "%{http_code}", http_url(dst_v4(0, srv.port()), "/slow")});
        EXPECT_EQ(slow.exit, 28) << describe(slow);
        EXPECT_EQ(slow.out, "000");
        EXPECT_GE(slow.seconds, 0.5);
        EXPECT_LT(slow.seconds, 5);
    });
}

TEST_F(CliNetns, TcpStreamSendsInputAndPrintsTheReplyUntilEof) {
    cxtest::run_in_netns([] {
        cxtest::echo_server echo(dst_v4(0, kEchoPort), SOCK_STREAM);
        std::string url = "tcp://127.0.1.1:" + std::to_string(echo.port());
        std::string input(200000, 'x');
        auto r =
            cli({"--local-port", "45007", "-w", "|%{size_upload} %{size_download}", url}, input);
        ASSERT_EQ(r.exit, 0) << describe(r).substr(0, 2000);
        EXPECT_EQ(r.out, input + "|200000 200000");
        auto d = cli({"-d", "ping", url});
        EXPECT_EQ(d.exit, 0) << describe(d);
        EXPECT_EQ(d.out, "ping");
    });
}

TEST_F(CliNetns, UdpEchoWithAPinnedPortTwiceInARow) {
    cxtest::run_in_netns([] {
        cxtest::echo_server echo(dst_v4(0, kEchoPort), SOCK_DGRAM);
        std::string url = "udp://127.0.1.1:" + std::to_string(echo.port());
        for (int run = 0; run < 2; ++run) {
            auto r = cli({"-v", "--local-port", "45008", "--idle-timeout", "1.5", "-d", "ping",
                          "-w", "|%{local_ip}:%{local_port} %{technique}", url});
            ASSERT_EQ(r.exit, 0) << "run " << run << "\n" << describe(r);
            EXPECT_EQ(r.out, "ping|127.0.0.1:45008 udp-alone");  // the port is free
            EXPECT_CONTAINS(r.err, ("from 127.0.0.1 port 45008 (technique udp-alone"));
        }
        EXPECT_EQ(echo.datagrams(), 2);
        // Standard input: the echo of everything comes back, then the idle timeout ends the run.
        auto in = cli({"--idle-timeout", "1.5", url}, "line one\nline two\n");
        EXPECT_EQ(in.exit, 0) << describe(in);
        EXPECT_EQ(in.out, "line one\nline two\n");
        // A range, and IPv6.
        cxtest::echo_server echo6(dst_v6(0, kEchoPort), SOCK_DGRAM);
        auto r6 = cli({"--local-port", "40020-40029", "--idle-timeout", "1.5", "-d", "v6", "-w",
                       "|%{local_port}", "udp://[2001:db8::1:1]:" + std::to_string(echo6.port())});
        EXPECT_EQ(r6.exit, 0) << describe(r6);
        ASSERT_EQ(r6.out.substr(0, 3), "v6|") << describe(r6);
        int port = std::atoi(r6.out.c_str() + 3);
        EXPECT_GE(port, 40020);
        EXPECT_LE(port, 40029);
    });
}

TEST_F(CliNetns, UdpTupleTakenNamesItAndNothingListeningExits7) {
    cxtest::run_in_netns([] {
        cxtest::echo_server echo(dst_v4(0, kEchoPort), SOCK_DGRAM);
        auto dst = dst_v4(0, echo.port());
        int held = cxtest::socket_for(dst, SOCK_DGRAM);
        auto c = cx::connect(held, v4("127.0.0.1:45009"), dst);
        ASSERT_TRUE(c) << c.error().message();
        auto r = cli({"--local-port", "45009", "-d", "x", "udp://" + dst.to_string()});
        EXPECT_EQ(r.exit, 45) << describe(r);
        EXPECT_CONTAINS(r.err, ("4-tuple 127.0.0.1:45009 -> " + dst.to_string()));
        ::close(held);
        auto nobody = cli({"-d", "x", "--idle-timeout", "2", "udp://127.0.1.2:9"});
        EXPECT_EQ(nobody.exit, 7) << describe(nobody);
        EXPECT_CONTAINS(nobody.err, ("Connection refused"));
    });
}

}  // namespace

#endif  // CONNECTX_CLI_PATH
