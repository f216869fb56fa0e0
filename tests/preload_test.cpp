// preload_test.cpp - libconnectx-preload.so and connectx-exec(1): the interposer's contract
// checked from inside a process under the drop-in (support/preload_scenarios.cpp), then unmodified
// programs from Debian - Python UDP and TCP clients, curl, nginx's UDP proxy, Node.js dgram, a
// Python HTTP server - run plain and under connectx-exec side by side, each in a private network
// namespace with a 16-port range and 4 destinations.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "support/cli_servers.hpp"
#include "support/netns.hpp"
#include "support/preload_run.hpp"
#include "support/preload_scenarios.hpp"

namespace {

using cxtest::dst_v4;

constexpr int kRange = 16, kDestinations = 4;
// Servers listen on fixed ports outside the range (a listener on a range port would take it).
constexpr uint16_t kEchoPort = 7200, kHttpPort = 8080, kProxyPort = 5353;

cxtest::netns_options small_range() {
    cxtest::netns_options o;
    o.port_lo = 40000;
    o.port_hi = 40000 + kRange - 1;
    o.destinations = kDestinations;
    return o;
}

std::string destinations() {
    std::string list;
    for (int i = 0; i < kDestinations; ++i) list += (i ? "," : "") + dst_v4(i, 0).ip_string();
    return list;
}

// Fails the test with the reason when a host program is missing (CI installs them all).
#define REQUIRE_PROGRAM(path)                                                \
    do {                                                                     \
        std::string why_ = cxtest::missing_program(path);                    \
        if (!why_.empty()) GTEST_SKIP() << "needs a host program: " << why_; \
    } while (0)

// --- the contract, from inside a process under the drop-in -----------------------------------

void expect_scenario(const char* name, const std::map<std::string, std::string>& env = {}) {
    cxtest::run_in_netns(small_range(), [&] {
        auto r = cxtest::run_preload_scenario(name, env);
        EXPECT_EQ(r.exit, 0) << name << ":\n" << r.err;
    });
}

TEST(PreloadContract, NonBlockingTcpConnectGivesEinprogressThenEalreadyOrEisconn) {
    CXTEST_REQUIRE_NETNS();
    expect_scenario("tcp_nonblocking_connect_keeps_connect_contract");
}

TEST(PreloadContract, NonBlockingTcpThroughConnectxKeepsTheSameContract) {
    CXTEST_REQUIRE_NETNS();
    expect_scenario("tcp_nonblocking_via_connectx_keeps_connect_contract",
                    {{"CONNECTX_SOURCE", "127.0.0.3"}});
}

TEST(PreloadContract, UdpReconnectKeepsPortAndAfUnspecDissolves) {
    CXTEST_REQUIRE_NETNS();
    expect_scenario("udp_reconnect_and_af_unspec_work_as_connect");
}

TEST(PreloadContract, UdpGetsocknameAfterBindZeroShowsAPort) {
    CXTEST_REQUIRE_NETNS();
    expect_scenario("udp_bind_zero_then_getsockname_shows_a_port");
}

TEST(PreloadContract, UdpSendtoAfterBindZeroSendsFromTheBoundAddress) {
    CXTEST_REQUIRE_NETNS();
    expect_scenario("udp_bind_zero_then_sendto_sends_from_that_address");
}

TEST(PreloadContract, UdpConnectAfterBindZeroUsesTheBoundAddress) {
    CXTEST_REQUIRE_NETNS();
    expect_scenario("udp_bind_zero_then_connect_uses_that_address");
}

TEST(PreloadContract, SecondBindWhileDeferredIsEinval) {
    CXTEST_REQUIRE_NETNS();
    expect_scenario("udp_second_bind_while_deferred_is_einval");
}

TEST(PreloadContract, DupDup2Dup3AndFdupfdCarryTheDeferredBind) {
    CXTEST_REQUIRE_NETNS();
    expect_scenario("dup_family_carries_deferred_bind");
}

TEST(PreloadContract, ReusedDescriptorNumberDoesNotInheritState) {
    CXTEST_REQUIRE_NETNS();
    expect_scenario("reused_descriptor_number_does_not_inherit_deferred_bind");
}

TEST(PreloadContract, ForkedChildKeepsStateAndExecKeepsTheDropIn) {
    CXTEST_REQUIRE_NETNS();
    expect_scenario("fork_and_exec_keep_the_drop_in");
}

TEST(PreloadContract, ServersReuseportAndListenersAreUntouched) {
    CXTEST_REQUIRE_NETNS();
    expect_scenario("servers_are_untouched");
}

TEST(PreloadContract, PinnedTcpPortReconnectsAcrossTimeWait) {
    CXTEST_REQUIRE_NETNS();
    expect_scenario("tcp_pinned_port_survives_time_wait");
}

TEST(PreloadContract, ConcurrentThreadsGetUniqueUdpTuples) {
    CXTEST_REQUIRE_NETNS();
    expect_scenario("threads_get_unique_udp_tuples");
}

TEST(PreloadContract, Ipv4SockaddrOnDualStackSocketStillConnects) {
    CXTEST_REQUIRE_NETNS();
    expect_scenario("ipv4_sockaddr_on_dual_stack_socket_is_connected_by_the_kernel");
}

TEST(PreloadContract, UdpFlowsPassTheRangeAndOffSwitchRestoresTheCeiling) {
    CXTEST_REQUIRE_NETNS();
    expect_scenario("udp_flows_pass_the_range_unless_off");
    expect_scenario("udp_flows_pass_the_range_unless_off", {{"CONNECTX_OFF", "1"}});
}

TEST(PreloadContract, UdpFlowsFromAPoolPassSourcesTimesRange) {
    CXTEST_REQUIRE_NETNS();
    expect_scenario("udp_flows_from_a_pool_pass_sources_times_range",
                    {{"CONNECTX_POOL", "127.0.0.0/30"}});
}

TEST(PreloadContract, VerboseWritesOneLinePerConnectionWithTupleAndTechnique) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns(small_range(), [] {
        auto r = cxtest::run_preload_scenario("udp_bind_zero_then_connect_uses_that_address",
                                              {{"CONNECTX_VERBOSE", "1"}});
        EXPECT_EQ(r.exit, 0) << r.err;
        EXPECT_NE(r.err.find("udp 127.0.0.2:400"), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("-> 127.0.1.1:7100 udp-"), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("lookups="), std::string::npos) << r.err;
    });
}

// --- connectx-exec itself ----------------------------------------------------------------------

TEST(ConnectxExec, AppendsToAnExistingLdPreload) {
    auto r = cxtest::run_plain(
        {cxtest::connectx_exec_path(), "--", "/bin/sh", "-c", "echo \"$LD_PRELOAD\""}, 30,
        // In the sanitizer build connectx-exec itself is instrumented and would refuse a library
        // loaded before ASan's runtime.
        {{"LD_PRELOAD", "/lib/x86_64-linux-gnu/libm.so.6"},
         {"ASAN_OPTIONS", "verify_asan_link_order=0"}});
    EXPECT_EQ(r.exit, 0) << r.err;
    EXPECT_EQ(r.out, "/lib/x86_64-linux-gnu/libm.so.6:" + cxtest::preload_library_path() + "\n");
}

TEST(ConnectxExec, OptionsBecomeTheEnvironmentTheDropInReads) {
    auto r = cxtest::run_under_exec(
        {"/bin/sh", "-c",
         "echo $CONNECTX_SOURCE $CONNECTX_PORTS $CONNECTX_POOL $CONNECTX_VERBOSE $CONNECTX_OFF"},
        {"--source", "10.0.0.1", "--ports", "30000-30999", "--pool", "fd00::/120", "--off"});
    EXPECT_EQ(r.exit, 0) << r.err;
    EXPECT_EQ(r.out, "10.0.0.1 30000-30999 fd00::/120 1\n");
}

TEST(ConnectxExec, BadOptionsAreRefusedWithExit125AndTheReason) {
    for (auto opts : std::vector<std::vector<std::string>>{{"--ports", "9-3"},
                                                           {"--ports", "0-10"},
                                                           {"--source", "host.example"},
                                                           {"--source", "10.0.0.1,10.0.0.2"},
                                                           {"--pool", "10.0.0.1/29"},
                                                           {"--pool", "10.0.0.0/8"},
                                                           {"--pool", "10.0.0.0/33"},
                                                           {"--pool", "10.0.0.0/29,10.1.0.0/29"},
                                                           {"--source", "10.0.0.1", "--pool",
                                                            "10.0.0.0/29"},
                                                           {"--bogus"}}) {
        auto r = cxtest::run_under_exec({"/bin/true"}, opts);
        EXPECT_EQ(r.exit, 125) << opts[0];
        EXPECT_FALSE(r.err.empty()) << opts[0];
    }
    auto none = cxtest::run_plain({cxtest::connectx_exec_path()});
    EXPECT_EQ(none.exit, 125);
    auto missing = cxtest::run_under_exec({"/nonexistent/program"});
    EXPECT_EQ(missing.exit, 127);
    EXPECT_NE(missing.err.find("/nonexistent/program"), std::string::npos);
}

TEST(ConnectxExec, VerboseWarnsThatAStaticProgramIsOutOfReach) {
    // The kernel-matrix guest and CI hosts both have busybox, statically linked.
    if (access("/bin/busybox", X_OK) != 0) GTEST_SKIP() << "needs /bin/busybox (static)";
    auto r = cxtest::run_under_exec({"/bin/busybox", "true"}, {"--verbose"});
    EXPECT_EQ(r.exit, 0);
    EXPECT_NE(r.err.find("statically linked"), std::string::npos) << r.err;
    // connectx-exec itself is dynamically linked (the guest's /bin/sh is busybox).
    auto dyn = cxtest::run_under_exec({cxtest::connectx_exec_path(), "--help"}, {"--verbose"});
    EXPECT_EQ(dyn.err.find("cannot reach"), std::string::npos) << dyn.err;
}

// --- unmodified programs, plain and under connectx-exec ---------------------------------------

struct udp_echoes {
    std::vector<std::unique_ptr<cxtest::echo_server>> servers;
    udp_echoes() {
        for (int i = 0; i < kDestinations; ++i)
            servers.push_back(
                std::make_unique<cxtest::echo_server>(dst_v4(i, kEchoPort), SOCK_DGRAM));
    }
};

std::string last_line(const std::string& out) {
    std::string s = out;
    while (!s.empty() && s.back() == '\n') s.pop_back();
    size_t nl = s.rfind('\n');
    return nl == std::string::npos ? s : s.substr(nl + 1);
}

// The Python UDP flows client with `extra` arguments, plain then under connectx-exec, in one
// namespace (UDP leaves no TIME_WAIT behind): the plain run stops at the range with
// `plain_error`, the drop-in reaches range x destinations, every 4-tuple its own, every echo back.
void python_udp_flows(const std::vector<std::string>& extra, int per, const char* plain_error) {
    cxtest::run_in_netns(small_range(), [&] {
        udp_echoes echoes;
        std::vector<std::string> argv{"/usr/bin/python3",
                                      cxtest::support_file("preload_udp_flows.py"),
                                      "--dst",
                                      destinations(),
                                      "--port",
                                      std::to_string(kEchoPort),
                                      "--per",
                                      std::to_string(per)};
        argv.insert(argv.end(), extra.begin(), extra.end());
        auto plain = cxtest::run_plain(argv);
        std::string p = last_line(plain.out);
        EXPECT_EQ(cxtest::report_value(p, "connected"), kRange) << p << plain.err;
        EXPECT_EQ(cxtest::report_word(p, "error"), plain_error) << p;
        auto drop = cxtest::run_under_exec(argv);
        std::string d = last_line(drop.out);
        EXPECT_EQ(cxtest::report_value(d, "connected"), kRange * kDestinations) << d << drop.err;
        EXPECT_EQ(cxtest::report_value(d, "unique"), kRange * kDestinations) << d;
        EXPECT_EQ(cxtest::report_value(d, "echoed"), kRange * kDestinations) << d;
    });
}

TEST(PreloadPrograms, PythonUdpClientReachesRangeTimesDestinations) {
    CXTEST_REQUIRE_NETNS();
    REQUIRE_PROGRAM("/usr/bin/python3");
    python_udp_flows({}, kRange + 4, "EAGAIN");
}

// bind((ip, 0)) before each connect: plain, the bind locks a port and fails when the range is full.
TEST(PreloadPrograms, PythonUdpClientBindingAddressFirstReachesRangeTimesDestinations) {
    CXTEST_REQUIRE_NETNS();
    REQUIRE_PROGRAM("/usr/bin/python3");
    python_udp_flows({"--bind", "127.0.0.1"}, kRange, "EADDRINUSE");
}

// Plain and under connectx-exec each in a namespace of its own: the plain run's explicitly bound
// ports, left in TIME_WAIT, are skipped by connect()'s port choice for a minute.
TEST(PreloadPrograms, PythonTcpClientBindingAddressReachesRangeTimesDestinations) {
    CXTEST_REQUIRE_NETNS();
    REQUIRE_PROGRAM("/usr/bin/python3");
    auto flows = [](bool under_exec) {
        cxtest::run_in_netns(small_range(), [&] {
            std::vector<int> listeners;
            for (int i = 0; i < kDestinations; ++i)
                listeners.push_back(cxtest::tcp_listener(dst_v4(i, kEchoPort)));
            std::vector<std::string> argv{"/usr/bin/python3",
                                          cxtest::support_file("preload_tcp_flows.py"),
                                          "--dst",
                                          destinations(),
                                          "--port",
                                          std::to_string(kEchoPort),
                                          "--per",
                                          std::to_string(kRange),
                                          "--bind",
                                          "127.0.0.1"};
            auto r = under_exec ? cxtest::run_under_exec(argv) : cxtest::run_plain(argv);
            std::string line = last_line(r.out);
            if (under_exec) {
                EXPECT_EQ(cxtest::report_value(line, "connected"), kRange * kDestinations)
                    << line << r.err;
                EXPECT_EQ(cxtest::report_value(line, "unique"), kRange * kDestinations) << line;
            } else {
                EXPECT_EQ(cxtest::report_value(line, "connected"), kRange) << line << r.err;
                EXPECT_EQ(cxtest::report_word(line, "error"), "EADDRINUSE") << line;
            }
            for (int l : listeners) close(l);
        });
    };
    flows(false);
    flows(true);
}

TEST(PreloadPrograms, CurlPinnedLocalPortTwiceInARowSucceedsUnderExec) {
    CXTEST_REQUIRE_NETNS();
    REQUIRE_PROGRAM("/usr/bin/curl");
    // Each pair in a namespace of its own: the first pair's TIME_WAIT must not reach the second.
    auto twice = [](bool under_exec) {
        cxtest::run_in_netns(small_range(), [&] {
            cxtest::http_server srv({dst_v4(0, kHttpPort)});
            std::vector<std::string> argv{"/usr/bin/curl",
                                          "-sS",
                                          "-o",
                                          "/dev/null",
                                          "--local-port",
                                          "30000",
                                          "http://127.0.1.1:" + std::to_string(kHttpPort) + "/"};
            int codes[2];
            for (int& code : codes) {
                auto r = under_exec ? cxtest::run_under_exec(argv) : cxtest::run_plain(argv);
                code = r.exit;
                // tcp_tw_reuse reuses a TIME_WAIT only from the next timestamp second on.
                std::this_thread::sleep_for(std::chrono::milliseconds(1100));
            }
            EXPECT_EQ(codes[0], 0);
            if (under_exec)
                EXPECT_EQ(codes[1], 0) << "curl under connectx-exec, second run";
            else
                EXPECT_EQ(codes[1], 45) << "plain curl, second run: its bind() fails";
        });
    };
    twice(false);
    twice(true);
}

// nginx's stream module proxying UDP to 4 upstreams; each client session (its own source port
// outside the range) makes nginx open one upstream socket and connect() it.
TEST(PreloadPrograms, NginxUdpProxySessionsReachRangeTimesUpstreams) {
    CXTEST_REQUIRE_NETNS();
    REQUIRE_PROGRAM("/usr/sbin/nginx");
    REQUIRE_PROGRAM("/usr/bin/python3");
    if (access("/usr/lib/nginx/modules/ngx_stream_module.so", R_OK) != 0)
        GTEST_SKIP() << "needs a host program: libnginx-mod-stream is not installed";
    auto sessions = [](bool under_exec) {
        cxtest::run_in_netns(small_range(), [&] {
            udp_echoes echoes;
            char dir[] = "/tmp/cxtest-nginx-XXXXXX";
            ASSERT_TRUE(mkdtemp(dir));
            std::string conf = std::string(dir) + "/nginx.conf";
            {
                std::ofstream c(conf);
                c << "load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n"
                  << "master_process off;\nerror_log " << dir << "/error.log info;\n"
                  << "pid " << dir << "/nginx.pid;\nevents { worker_connections 1024; }\n"
                  << "stream {\n  upstream echoes {\n";
                for (int i = 0; i < kDestinations; ++i)
                    c << "    server " << dst_v4(i, kEchoPort).to_string() << ";\n";
                c << "  }\n  server {\n    listen 127.0.0.1:" << kProxyPort << " udp;\n"
                  << "    proxy_pass echoes;\n    proxy_timeout 30s;\n  }\n}\n";
            }
            std::vector<std::string> argv{"/usr/sbin/nginx", "-p", dir, "-c", conf, "-g",
                                          "daemon off;"};
            if (under_exec) argv.insert(argv.begin(), {cxtest::connectx_exec_path(), "--"});
            std::string report;
            {
                cxtest::background_program nginx(argv);
                ASSERT_TRUE(cxtest::udp_port_bound(kProxyPort, 10)) << nginx.output();
                auto r = cxtest::run_plain(
                    {"/usr/bin/python3", cxtest::support_file("preload_udp_sessions.py"), "--to",
                     "127.0.0.1:" + std::to_string(kProxyPort), "--sessions",
                     std::to_string(kRange * kDestinations + 16), "--first-port", "20000"});
                report = last_line(r.out);
            }
            int expect = under_exec ? kRange * kDestinations : kRange;
            EXPECT_EQ(cxtest::report_value(report, "replied"), expect)
                << (under_exec ? "under connectx-exec: " : "plain: ") << report;
            EXPECT_EQ(cxtest::report_value(report, "wrong"), 0) << report;
            std::string rm = std::string("rm -rf ") + dir;
            EXPECT_EQ(std::system(rm.c_str()), 0);
        });
    };
    sessions(false);
    sessions(true);
}

TEST(PreloadPrograms, NodeDgramFlowsReachRangeTimesDestinations) {
    CXTEST_REQUIRE_NETNS();
    REQUIRE_PROGRAM("/usr/bin/node");
    cxtest::run_in_netns(small_range(), [] {
        udp_echoes echoes;
        std::vector<std::string> argv{
            "/usr/bin/node", cxtest::support_file("preload_dgram_flows.js"), destinations(),
            std::to_string(kEchoPort), std::to_string(kRange + 4)};
        std::string p = last_line(cxtest::run_plain(argv).out);
        EXPECT_EQ(cxtest::report_value(p, "connected"), kRange) << p;
        auto drop = cxtest::run_under_exec(argv);
        std::string d = last_line(drop.out);
        EXPECT_EQ(cxtest::report_value(d, "connected"), kRange * kDestinations) << d << drop.err;
        EXPECT_EQ(cxtest::report_value(d, "unique"), kRange * kDestinations) << d;
        EXPECT_EQ(cxtest::report_value(d, "echoed"), kRange * kDestinations) << d;
    });
}

// A server binding port 0 reads its port back before listen() (socketserver does): it must see
// a real port, and serve as it does without the drop-in.
TEST(PreloadPrograms, PythonHttpServerUnderExecServesUnchanged) {
    CXTEST_REQUIRE_NETNS();
    REQUIRE_PROGRAM("/usr/bin/python3");
    cxtest::run_in_netns(small_range(), [] {
        char dir[] = "/tmp/cxtest-www-XXXXXX";
        ASSERT_TRUE(mkdtemp(dir));
        std::ofstream(std::string(dir) + "/hello.txt") << "hello from python\n";
        cxtest::background_program server({cxtest::connectx_exec_path(), "--", "/usr/bin/python3",
                                           "-u", "-m", "http.server", "0", "--bind", "127.0.0.1",
                                           "--directory", dir});
        ASSERT_TRUE(server.wait_for_output("Serving HTTP on 127.0.0.1 port ")) << server.output();
        std::string out = server.output();
        long port = std::strtol(out.c_str() + out.find(" port ") + 6, nullptr, 10);
        ASSERT_GT(port, 0) << out;
        auto r = cxtest::run_plain({"/usr/bin/python3", "-c",
                                    "import urllib.request,sys; sys.stdout.write(urllib.request."
                                    "urlopen('http://127.0.0.1:" +
                                        std::to_string(port) + "/hello.txt').read().decode())"});
        EXPECT_EQ(r.out, "hello from python\n") << r.err << server.output();
        std::string rm = std::string("rm -rf ") + dir;
        EXPECT_EQ(std::system(rm.c_str()), 0);
    });
}

}  // namespace
