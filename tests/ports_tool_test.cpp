// ports_tool_test.cpp - connectx-ports(8), the real program: after a UDP and a TCP fill from a
// pool, its JSON numbers equal a SOCK_DIAG census of the namespace exactly (UDP) and the
// connections the test holds (TCP); its Prometheus output passes `promtool check metrics`;
// --watch repeats, --netns looks into another namespace, and bad options are usage errors.
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "support/cli_run.hpp"
#include "support/netns.hpp"
#include "support/udp_util.hpp"

#ifdef CONNECTX_PORTS_TOOL_PATH
namespace {

using cxtest::v4;

constexpr const char* kTool = CONNECTX_PORTS_TOOL_PATH;
constexpr int kPorts = 16;
constexpr uint16_t kLo = 40000;

cxtest::netns_options small_range() {
    cxtest::netns_options o;
    o.port_lo = kLo;
    o.port_hi = kLo + kPorts - 1;
    o.destinations = 2;
    return o;
}

cxtest::cli_result run_tool(const std::vector<std::string>& args) {
    return cxtest::run_program(kTool, args);
}

struct held {
    std::vector<int> fds;
    ~held() {
        for (int fd : fds) ::close(fd);
    }
};

// `n` flows of `type` toward destination `d` from the pool 127.0.0.1 .. 127.0.0.3.
void open_flows(int type, int d, int n, held& keep) {
    cx::options o;
    for (const char* ip : {"127.0.0.1", "127.0.0.2", "127.0.0.3"}) o.pool.push_back(v4(ip));
    const auto dst = cxtest::dst_v4(d, 8080);
    for (int i = 0; i < n; ++i) {
        int fd = cxtest::socket_for(dst, type);
        keep.fds.push_back(fd);
        auto c = cx::connect(fd, std::nullopt, dst, o);
        ASSERT_TRUE(c) << c.error().message();
    }
}

// The tool's JSON pairs of one protocol as "source destination:port" -> used, checking free and
// usable on the way.
std::map<std::string, uint32_t> tool_pairs(const nlohmann::json& doc, const char* proto) {
    std::map<std::string, uint32_t> out;
    EXPECT_EQ(doc[proto]["usable"], kPorts);
    EXPECT_EQ(doc[proto]["range"]["lo"], kLo);
    for (const auto& p : doc[proto]["pairs"]) {
        const uint32_t used = p["used"];
        EXPECT_EQ(p["free"].get<uint32_t>(), kPorts - used);
        out[p["source"].get<std::string>() + " " + p["destination"].get<std::string>() + ":" +
            std::to_string(p["destination_port"].get<int>())] = used;
    }
    return out;
}

// Connected UDP sockets per pair, from the test's own SOCK_DIAG dump.
std::map<std::string, uint32_t> udp_census() {
    std::map<std::string, uint32_t> n;
    for (const auto& s : cxtest::dump_udp_sockets())
        if (s.connected) n[v4(s.local.c_str()).ip_string() + " " + s.remote]++;
    return n;
}

// TCP connections per pair, from the sockets the test holds (listeners have no peer).
std::map<std::string, uint32_t> tcp_held(const held& keep) {
    std::map<std::string, uint32_t> n;
    for (int fd : keep.fds) {
        sockaddr_storage l{}, r{};
        socklen_t ll = sizeof l, rl = sizeof r;
        int type = 0;
        socklen_t tl = sizeof type;
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl);
        if (type != SOCK_STREAM || getpeername(fd, reinterpret_cast<sockaddr*>(&r), &rl) != 0)
            continue;
        getsockname(fd, reinterpret_cast<sockaddr*>(&l), &ll);
        auto la = cx::address::from_sockaddr(reinterpret_cast<sockaddr*>(&l), ll);
        auto ra = cx::address::from_sockaddr(reinterpret_cast<sockaddr*>(&r), rl);
        n[la->ip_string() + " " + ra->to_string()]++;
    }
    return n;
}

// A fill: UDP 40 flows toward destination 0 and 7 toward 1; TCP 20 toward destination 0.
void fill(held& keep) {
    keep.fds.push_back(cxtest::tcp_listener(cxtest::dst_v4(0, 8080)));
    open_flows(SOCK_DGRAM, 0, 40, keep);
    open_flows(SOCK_DGRAM, 1, 7, keep);
    open_flows(SOCK_STREAM, 0, 20, keep);
}

TEST(PortsToolNetns, JsonAfterAFillEqualsTheSockDiagCensus) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns(small_range(), [] {
        held keep;
        fill(keep);
        auto r = run_tool({"--json"});
        ASSERT_EQ(r.exit, 0) << r.err;
        auto doc = nlohmann::json::parse(r.out);
        auto udp = udp_census();
        EXPECT_EQ(udp.size(), 6u) << "3 sources x 2 destinations";
        EXPECT_EQ(tool_pairs(doc, "udp"), udp);
        EXPECT_EQ(tool_pairs(doc, "tcp"), tcp_held(keep));
        // Most used first.
        uint32_t prev = UINT32_MAX;
        for (const auto& p : doc["udp"]["pairs"]) {
            EXPECT_LE(p["used"].get<uint32_t>(), prev);
            prev = p["used"];
        }
        // The table shows the same pairs; -u and --top narrow it.
        auto t = run_tool({"-u", "--top", "2"});
        ASSERT_EQ(t.exit, 0) << t.err;
        EXPECT_NE(t.out.find("udp: ip_local_port_range 40000-40015, 16 usable, 6 pairs"),
                  std::string::npos)
            << t.out;
        EXPECT_EQ(t.out.find("tcp"), std::string::npos) << t.out;
        EXPECT_EQ(std::count(t.out.begin(), t.out.end(), '\n'), 1 + 1 + 2) << t.out;
    });
}

TEST(PortsToolNetns, PrometheusOutputPassesPromtoolCheckMetrics) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns(small_range(), [] {
        held keep;
        fill(keep);
        auto r = run_tool({"--prometheus"});
        ASSERT_EQ(r.exit, 0) << r.err;
        EXPECT_NE(r.out.find("# TYPE connectx_ports_used gauge\n"), std::string::npos);
        EXPECT_NE(r.out.find("connectx_ports_usable{protocol=\"udp\"} 16\n"), std::string::npos);
        auto check = cxtest::run_program("/usr/bin/promtool", {"check", "metrics"}, r.out);
        EXPECT_EQ(check.exit, 0) << "promtool: " << check.out << check.err << "\n" << r.out;
        // Written whole to a file for the textfile collector. (Debian's prometheus package puts
        // promtool in /usr/bin: tools/install-deps.)
        std::string path = "/tmp/cxports-test-" + std::to_string(getpid()) + ".prom";
        auto w = run_tool({"--prometheus", "-o", path});
        ASSERT_EQ(w.exit, 0) << w.err;
        struct stat st {};
        EXPECT_EQ(stat(path.c_str(), &st), 0);
        EXPECT_EQ(size_t(st.st_size), r.out.size());
        EXPECT_NE(stat((path + ".tmp").c_str(), &st), 0) << "no temporary file left";
        unlink(path.c_str());
    });
}

TEST(PortsToolNetns, WatchRepeatsCountTimes) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns(small_range(), [] {
        held keep;
        open_flows(SOCK_DGRAM, 0, 3, keep);
        auto r = run_tool({"--json", "-u", "--watch", "1", "--count", "2"});
        ASSERT_EQ(r.exit, 0) << r.err;
        std::istringstream in(r.out);
        int docs = 0;
        for (std::string line; std::getline(in, line); ++docs)
            EXPECT_EQ(nlohmann::json::parse(line)["udp"]["pairs"].size(), 3u);
        EXPECT_EQ(docs, 2);
        EXPECT_GE(r.seconds, 0.9) << "one second between the two";
    });
}

TEST(PortsToolNetns, NetnsLooksIntoTheNamedNamespace) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns(small_range(), [] {
        held keep;
        open_flows(SOCK_DGRAM, 0, 5, keep);
        // /run/netns/cxports-test names this namespace, in a private mount namespace on a tmpfs
        // of its own (the host's /run is never written); then the test moves to a fresh one.
        ASSERT_EQ(unshare(CLONE_NEWNS), 0) << strerror(errno);
        ASSERT_EQ(mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0);
        ASSERT_EQ(mount("tmpfs", "/run", "tmpfs", 0, "size=1m"), 0) << strerror(errno);
        ASSERT_EQ(mkdir("/run/netns", 0755), 0);
        int f = open("/run/netns/cxports-test", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        ASSERT_GE(f, 0);
        close(f);
        ASSERT_EQ(mount("/proc/self/ns/net", "/run/netns/cxports-test", nullptr, MS_BIND, nullptr),
                  0)
            << strerror(errno);
        ASSERT_EQ(unshare(CLONE_NEWNET), 0);
        auto here = run_tool({"--json", "-u"});
        ASSERT_EQ(here.exit, 0) << here.err;
        EXPECT_EQ(nlohmann::json::parse(here.out)["udp"]["pairs"].size(), 0u);
        auto there = run_tool({"--json", "-u", "--netns", "cxports-test"});
        ASSERT_EQ(there.exit, 0) << there.err;
        EXPECT_EQ(nlohmann::json::parse(there.out)["udp"]["pairs"].size(), 3u);
        auto none = run_tool({"--netns", "no-such-ns"});
        EXPECT_EQ(none.exit, 1);
        EXPECT_NE(none.err.find("/run/netns/no-such-ns: No such file or directory"),
                  std::string::npos)
            << none.err;
        umount2("/run/netns/cxports-test", MNT_DETACH);
    });
}

TEST(PortsTool, BadOptionsAreUsageErrorsNamingTheOption) {
    struct bad {
        std::vector<std::string> args;
        const char* says;
    };
    for (const auto& b : {bad{{"--watch", "0"}, "--watch"}, bad{{"--watch", "x"}, "--watch"},
                          bad{{"--count", "2"}, "--count needs --watch"},
                          bad{{"-u", "-t"}, "-u and -t"}, bad{{"--top", "-1"}, "--top"},
                          bad{{"--netns", "a/b"}, "--netns"}, bad{{"--bogus"}, "--bogus"},
                          bad{{"extra"}, "extra"}, bad{{"--watch"}, "needs a value"}}) {
        auto r = run_tool(b.args);
        EXPECT_EQ(r.exit, 2) << b.says;
        EXPECT_NE(r.err.find(b.says), std::string::npos) << r.err;
    }
    auto v = run_tool({"--version"});
    EXPECT_EQ(v.exit, 0);
    EXPECT_EQ(v.out.rfind("connectx-ports ", 0), 0u);
}

}  // namespace
#endif
