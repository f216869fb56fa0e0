// stress_test.cpp - the connectx-stress binary end to end: for small ranges every technique's
// count and errno are exact, the JSON document keeps its schema, the cost per connect is reported
// by occupancy band, the CSV and the SVG plot are well-formed, the table opens with its header and
// closes with a legend and notes, the progress line shows rate, elapsed time and ETA on a
// terminal, bad options fail with status 2.
#include <connectx/connectx.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>
#if __has_include(<connectx/guard.h>)
#include <connectx/guard.h>
#define STRESS_TEST_HAVE_GUARD_API 1
#endif

#include <nlohmann/json.hpp>

#include "support/cli_run.hpp"
#include "support/netns.hpp"
#include "support/xml_check.hpp"

#ifndef CONNECTX_STRESS_BIN
#error "CONNECTX_STRESS_BIN (path of the connectx-stress binary) must be defined by CMake"
#endif

namespace {

// ---- running the binary ----------------------------------------------------------------------

using json = nlohmann::json;

// A scale run takes seconds, not minutes; the tool's own --timeout bounds each technique.
constexpr int kRunLimitS = 600;

cxtest::cli_result run_stress(const std::vector<std::string>& args) {
    return cxtest::run_program(CONNECTX_STRESS_BIN, args, "", kRunLimitS);
}

json parse_json(const std::string& text) {
    json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(doc.is_discarded()) << "not JSON:\n" << text;
    return doc;
}

// Runs the tool with --json and returns the document (fails the test when it is not valid).
json run_json(std::vector<std::string> args) {
    args.push_back("--json");
    cxtest::cli_result r = run_stress(args);
    EXPECT_EQ(r.exit, 0) << "stderr: " << r.err << "\nstdout: " << r.out;
    return parse_json(r.out);
}

std::set<std::string> keys(const json& object) {
    std::set<std::string> k;
    for (const auto& [key, value] : object.items()) k.insert(key);
    return k;
}

// The results, by technique name.
std::map<std::string, json> by_technique(const json& doc) {
    std::map<std::string, json> m;
    for (const auto& r : doc["results"]) m[r["technique"].get<std::string>()] = r;
    return m;
}

// A row that reached its ceiling: `established` connections, then `errno_name`.
void expect_ceiling(const json& row, uint64_t established, const char* errno_name, bool shared) {
    SCOPED_TRACE(row["technique"].get<std::string>());
    EXPECT_EQ(row["status"].get<std::string>(), "failure");
    EXPECT_EQ(row["established"].get<uint64_t>(), established);
    EXPECT_EQ(row["errno_name"].get<std::string>(), errno_name);
    EXPECT_EQ(row["diag_established"].get<uint64_t>(), established)
        << "SOCK_DIAG saw another count";
    EXPECT_EQ(row["duplicate_tuples"].get<uint64_t>(), 0u);
    EXPECT_EQ(row["shared_local_pairs"].get<bool>(), shared);
    EXPECT_EQ(row["diag_errno"].get<double>(), 0);
}

bool guard_available() {
#ifdef STRESS_TEST_HAVE_GUARD_API
    return connectx_guard_available() == 1;
#else
    return false;
#endif
}

// ---- tests ----------------------------------------------------------------------------------

TEST(StressTool, TcpCeilingsAreExactForEveryTechnique) {
    CXTEST_REQUIRE_NETNS();
    json doc = run_json({"--ports", "64", "--destinations", "4", "--techniques", "tcp"});
    auto rows = by_technique(doc);
    ASSERT_EQ(rows.size(), 5u);
    expect_ceiling(rows["tcp-connect"], 256, "EADDRNOTAVAIL", true);
    expect_ceiling(rows["tcp-bind"], 64, "EADDRINUSE", false);
    EXPECT_EQ(rows["tcp-bind"]["local_pairs"].get<uint64_t>(), 64u)
        << "one port locked per connection";
    expect_ceiling(rows["tcp-no-port"], 256, "EADDRNOTAVAIL", true);
    expect_ceiling(rows["tcp-reuseaddr"], 256, "EADDRNOTAVAIL", true);
    expect_ceiling(rows["tcp-connectx"], 256, "EADDRNOTAVAIL", true);
    EXPECT_EQ(rows["tcp-connectx"]["local_pairs"].get<uint64_t>(), 64u)
        << "every port serves 4 destinations";
}

TEST(StressTool, UdpPlainConnectStopsAtTheRangeWithEagain) {
    CXTEST_REQUIRE_NETNS();
    json doc = run_json({"--ports", "64", "-d", "4", "-t", "udp-connect"});
    auto rows = by_technique(doc);
    expect_ceiling(rows["udp-connect"], 64, "EAGAIN", false);
}

TEST(StressTool, UdpReuseaddrConnectOvercommitsIntoDuplicateTuples) {
    CXTEST_REQUIRE_NETNS();
    // 64 ports x 4 destinations hold 256 distinct 4-tuples; the tool tries one more. Nothing
    // stops SO_REUSEADDR + connect(), so by the pigeonhole principle two sockets share a tuple.
    json doc = run_json({"--ports", "64", "-d", "4", "-t", "udp-reuseaddr"});
    json row = by_technique(doc)["udp-reuseaddr"];
    EXPECT_EQ(row["status"].get<std::string>(), "limit");
    EXPECT_EQ(row["established"].get<uint64_t>(), 257u);
    EXPECT_EQ(row["limit"].get<uint64_t>(), 257u);
    EXPECT_EQ(row["errno"].get<double>(), 0);
    EXPECT_EQ(row["errno_name"].is_null(), true);
    EXPECT_GE(row["duplicate_tuples"].get<uint64_t>(), 1u);
    EXPECT_EQ(row["diag_established"].get<uint64_t>(), 257u);
}

TEST(StressTool, UdpConnectxReachesRangeTimesDestinationsThenEagain) {
    CXTEST_REQUIRE_NETNS();
    json doc = run_json({"--ports", "64", "-d", "4", "-t", "udp-connectx"});
    expect_ceiling(by_technique(doc)["udp-connectx"], 256, "EAGAIN", true);
}

TEST(StressTool, FourSourcesReachSourcesTimesRangeTimesDestinationsWithNoDuplicate) {
    CXTEST_REQUIRE_NETNS();
    for (const char* fill : {"round-robin", "sequential"}) {
        json doc = run_json({"--ports", "16", "-d", "2", "--sources", "4", "--fill", fill, "-t",
                             "udp-connectx,tcp-connectx,tcp-no-port"});
        EXPECT_EQ(doc["sources"].get<int>(), 4);
        EXPECT_EQ(doc["capacity"].get<uint64_t>(), 4u * 16 * 2);
        auto rows = by_technique(doc);
        expect_ceiling(rows["udp-connectx"], 4 * 16 * 2, "EAGAIN", true);
        expect_ceiling(rows["tcp-connectx"], 4 * 16 * 2, "EADDRNOTAVAIL", true);
        // The kernel rows keep their one source: the pool is what lifts the ceiling. (In
        // sequential order the first destination's share is the pool's, 64: its first failure,
        // at 17, ends the row.)
        const bool rr = std::string(fill) == "round-robin";
        expect_ceiling(rows["tcp-no-port"], rr ? 16 * 2 : 16, "EADDRNOTAVAIL", rr);
    }
    json v6 = run_json({"--ports", "16", "-d", "2", "--sources", "3", "-6", "-t", "udp-connectx"});
    expect_ceiling(by_technique(v6)["udp-connectx"], 3 * 16 * 2, "EAGAIN", true);
}

TEST(StressTool, GuardedRowMatchesTheBuild) {
    CXTEST_REQUIRE_NETNS();
    cxtest::cli_result r =
        run_stress({"--ports", "16", "-d", "2", "-t", "udp-connectx-guard", "--json"});
    json doc = parse_json(r.out);
    json row = by_technique(doc)["udp-connectx-guard"];
    if (!guard_available()) {
        EXPECT_EQ(r.exit, 0);
        EXPECT_EQ(row["status"].get<std::string>(), "not-built");
        EXPECT_EQ(row["established"].get<uint64_t>(), 0u);
        EXPECT_NE(row["message"].get<std::string>(), "");
        return;
    }
    ASSERT_EQ(r.exit, 0) << row["message"].get<std::string>();
    expect_ceiling(row, 32, "EAGAIN", true);
}

TEST(StressTool, SequentialFillReachesTheSameCeilings) {
    CXTEST_REQUIRE_NETNS();
    json doc = run_json({"--fill", "sequential", "--ports", "32", "-d", "3", "-t",
                         "tcp-bind,tcp-reuseaddr,tcp-connectx,udp-connect,udp-connectx"});
    EXPECT_EQ(doc["fill"].get<std::string>(), "sequential");
    auto rows = by_technique(doc);
    expect_ceiling(rows["tcp-bind"], 32, "EADDRINUSE", false);
    expect_ceiling(rows["tcp-reuseaddr"], 96, "EADDRNOTAVAIL", true);
    expect_ceiling(rows["tcp-connectx"], 96, "EADDRNOTAVAIL", true);
    expect_ceiling(rows["udp-connect"], 32, "EAGAIN", false);
    expect_ceiling(rows["udp-connectx"], 96, "EAGAIN", true);
}

TEST(StressTool, CountStopsEachTechniqueEarly) {
    CXTEST_REQUIRE_NETNS();
    json doc = run_json({"--count", "10", "-t", "tcp-bind,udp-connect"});
    for (const auto& [name, row] : by_technique(doc)) {
        SCOPED_TRACE(name);
        EXPECT_EQ(row["status"].get<std::string>(), "limit");
        EXPECT_EQ(row["established"].get<uint64_t>(), 10u);
        EXPECT_EQ(row["errno_name"].is_null(), true);
        EXPECT_EQ(row["diag_established"].get<uint64_t>(), 10u);
    }
}

TEST(StressTool, Ipv6CeilingsAreExact) {
    CXTEST_REQUIRE_NETNS();
    json doc = run_json(
        {"-6", "--ports", "40000-40015", "-d", "3", "-t", "tcp-bind,tcp-connectx,udp-connect"});
    EXPECT_EQ(doc["family"].get<std::string>(), "ipv6");
    EXPECT_EQ(doc["source"].get<std::string>(), "2001:db8::1");
    auto rows = by_technique(doc);
    expect_ceiling(rows["tcp-bind"], 16, "EADDRINUSE", false);
    expect_ceiling(rows["tcp-connectx"], 48, "EADDRNOTAVAIL", true);
    expect_ceiling(rows["udp-connect"], 16, "EAGAIN", false);
}

TEST(StressTool, SocketsSpreadOverWorkersPastTheFileLimit) {
    CXTEST_REQUIRE_NETNS();
    // 2 x 12,000 = 24,000 sockets: more than one process may hold here (20,000 files). Explicit
    // ports: the kernel's own port search slows down near a full range, this one does not.
    json doc = run_json({"--ports", "12000", "-d", "2", "-t", "tcp-reuseaddr"});
    json row = by_technique(doc)["tcp-reuseaddr"];
    expect_ceiling(row, 24000, "EADDRNOTAVAIL", true);
    EXPECT_GE(row["holders"].get<uint64_t>(), 2u);
}

TEST(StressTool, JsonSchemaIsStable) {
    CXTEST_REQUIRE_NETNS();
    json doc = run_json({"--ports", "8", "-d", "2", "-t", "tcp-connect"});
    EXPECT_EQ(doc["schema"].get<std::string>(), "connectx-stress/1");
    // "sources" came with --sources (an added key: readers of schema 1 are not broken).
    EXPECT_EQ(keys(doc), (std::set<std::string>{"schema", "version", "kernel", "mode", "family",
                                                "source", "destinations", "sources", "fill",
                                                "server_port", "port_range", "capacity",
                                                "timeout_s", "results"}));
    EXPECT_EQ(doc["sources"].get<int>(), 1);
    EXPECT_EQ(doc["mode"].get<std::string>(), "compare");
    EXPECT_EQ(doc["fill"].get<std::string>(), "round-robin");
    EXPECT_EQ(doc["family"].get<std::string>(), "ipv4");
    EXPECT_EQ(doc["source"].get<std::string>(), "127.0.0.1");
    EXPECT_EQ(doc["destinations"].get<uint64_t>(), 2u);
    EXPECT_EQ(doc["server_port"].get<uint64_t>(), 80u);
    EXPECT_EQ(doc["port_range"]["lo"].get<uint64_t>(), 32768u);
    EXPECT_EQ(doc["port_range"]["hi"].get<uint64_t>(), 32775u);
    EXPECT_EQ(doc["port_range"]["size"].get<uint64_t>(), 8u);
    EXPECT_EQ(doc["capacity"].get<uint64_t>(), 16u);
    ASSERT_EQ(doc["results"].size(), 1u);
    const json& row = doc["results"][0];
    EXPECT_EQ(keys(row), (std::set<std::string>{"technique",
                                                "protocol",
                                                "description",
                                                "status",
                                                "established",
                                                "limit",
                                                "errno",
                                                "errno_name",
                                                "shared_local_pairs",
                                                "local_pairs",
                                                "duplicate_tuples",
                                                "diag_established",
                                                "diag_errno",
                                                "holders",
                                                "open_seconds",
                                                "wall_seconds",
                                                "connects_per_second",
                                                "slab_delta_bytes",
                                                "kernel_bytes_per_connection",
                                                "cost_us_by_occupancy",
                                                "message"}));
    EXPECT_EQ(row["protocol"].get<std::string>(), "tcp");
    EXPECT_EQ(row["description"].get<std::string>(), "connect(dst)");
    EXPECT_EQ(row["limit"].get<uint64_t>(), 17u);
    EXPECT_EQ(row["errno"].get<double>(), EADDRNOTAVAIL);
    EXPECT_EQ(row["holders"].get<uint64_t>(), 1u);
    EXPECT_GT(row["open_seconds"].get<double>(), 0);
    EXPECT_GE(row["wall_seconds"].get<double>(), row["open_seconds"].get<double>());
    EXPECT_GT(row["connects_per_second"].get<double>(), 0);
}

TEST(StressTool, DefaultRunPrintsTheTableOfEveryTechnique) {
    CXTEST_REQUIRE_NETNS();
    cxtest::cli_result r = run_stress({});
    EXPECT_EQ(r.exit, 0) << r.err;
    EXPECT_NE(r.out.find("64 local ports (32768-32831) x 4 destinations = 256"), std::string::npos)
        << r.out;
    for (const char* want :
         {"established", "errno at exhaustion", "src 2-tuple shared", "duplicate 4-tuples",
          "bind(src, 0) + connect(dst)", "IP_BIND_ADDRESS_NO_PORT", "SO_REUSEADDR + connect(dst)",
          "connectx(src, dst) under the BPF guard", "EADDRINUSE", "EAGAIN"})
        EXPECT_NE(r.out.find(want), std::string::npos) << want << " missing in\n" << r.out;
    EXPECT_EQ(r.out.find("\033["), std::string::npos) << "no progress bar when not a terminal";
}

TEST(StressTool, BadOptionsExitWithStatusTwo) {
    for (std::vector<std::string> args : {std::vector<std::string>{"--ports", "63"},
                                          {"--ports", "1"},
                                          {"--ports", "100-50"},
                                          {"--ports", "80-81"},
                                          {"--ports", "x"},
                                          {"--destinations", "0"},
                                          {"--destinations", "4097"},
                                          {"--sources", "0"},
                                          {"--sources", "257"},
                                          {"--techniques", "tcp-nope"},
                                          {"--techniques", ""},
                                          {"--count", "0"},
                                          {"--timeout", "0"},
                                          {"--fill", "random"},
                                          {"--bogus"},
                                          {"extra"},
                                          {"--ports"}}) {
        cxtest::cli_result r = run_stress(args);
        EXPECT_EQ(r.exit, 2) << args[0];
        EXPECT_NE(r.err.find("connectx-stress: "), std::string::npos) << r.err;
        EXPECT_EQ(r.out, "");
    }
}

TEST(StressTool, HelpAndVersion) {
    cxtest::cli_result h = run_stress({"--help"});
    EXPECT_EQ(h.exit, 0);
    EXPECT_NE(h.out.find("--scale"), std::string::npos);
    cxtest::cli_result v = run_stress({"--version"});
    EXPECT_EQ(v.exit, 0);
    EXPECT_EQ(v.out, "connectx-stress " + std::to_string(CONNECTX_VERSION_MAJOR) + "." +
                         std::to_string(CONNECTX_VERSION_MINOR) + "." +
                         std::to_string(CONNECTX_VERSION_PATCH) + "\n");
}

// ---- what the tool shows people -------------------------------------------------------------

TEST(StressTool, CostPerConnectIsReportedForEveryOccupancyBandReached) {
    CXTEST_REQUIRE_NETNS();
    json doc = run_json({"--ports", "64", "-d", "4", "-t", "tcp-bind,udp-connectx"});
    auto rows = by_technique(doc);
    const json& full = rows["udp-connectx"]["cost_us_by_occupancy"];
    EXPECT_EQ(keys(full), (std::set<std::string>{"0-10", "10-50", "50-90", "99-100"}));
    for (const auto& [band, us] : full.items()) {
        ASSERT_TRUE(us.is_number()) << band << ": " << full;
        EXPECT_GT(us.get<double>(), 0) << band;
    }
    // bind(src, 0) stops at the range, a quarter of the 4-tuples: nothing past 25 %.
    const json& quarter = rows["tcp-bind"]["cost_us_by_occupancy"];
    EXPECT_GT(quarter["0-10"].get<double>(), 0) << quarter;
    EXPECT_TRUE(quarter["50-90"].is_null()) << quarter;
    EXPECT_TRUE(quarter["99-100"].is_null()) << quarter;
}

// Splits one CSV line (RFC 4180 quoting).
std::vector<std::string> csv_fields(const std::string& line) {
    std::vector<std::string> f(1);
    bool quoted = false;
    for (size_t i = 0; i < line.size(); ++i) {
        char c = line[i];
        if (quoted && c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
            f.back() += '"';
            ++i;
        } else if (c == '"') {
            quoted = !quoted;
        } else if (c == ',' && !quoted) {
            f.emplace_back();
        } else {
            f.back() += c;
        }
    }
    return f;
}

TEST(StressTool, CsvHasAHeaderAndOneRowPerTechnique) {
    CXTEST_REQUIRE_NETNS();
    cxtest::cli_result r =
        run_stress({"--csv", "-p", "16", "-d", "2", "-t", "udp-connect,udp-connectx"});
    ASSERT_EQ(r.exit, 0) << r.err;
    std::vector<std::vector<std::string>> rows;
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);) rows.push_back(csv_fields(line));
    ASSERT_EQ(rows.size(), 3u) << r.out;
    EXPECT_EQ(rows[0], (std::vector<std::string>{
                           "technique", "protocol", "description", "status", "errno_name",
                           "established", "limit", "capacity", "shared_local_pairs",
                           "duplicate_tuples", "open_seconds", "connects_per_second",
                           "cost_us_0_10", "cost_us_10_50", "cost_us_50_90", "cost_us_99_100"}));
    for (const auto& row : rows) ASSERT_EQ(row.size(), rows[0].size()) << r.out;
    EXPECT_EQ(rows[1][0], "udp-connect");
    EXPECT_EQ(rows[1][5], "16");
    EXPECT_EQ(rows[1][4], "EAGAIN");
    EXPECT_EQ(rows[1][15], "") << "plain connect() never reaches 99 %";
    EXPECT_EQ(rows[2][0], "udp-connectx");
    EXPECT_EQ(rows[2][2], "connectx(src, dst)") << "a description with a comma is quoted";
    EXPECT_EQ(rows[2][5], "32");
    EXPECT_EQ(rows[2][7], "32");
    EXPECT_EQ(rows[2][9], "0");
    EXPECT_GT(std::stod(rows[2][15]), 0);
}

TEST(StressTool, PlotIsWellFormedSvgWithTwoLinesPerTechnique) {
    CXTEST_REQUIRE_NETNS();
    char path[] = "/tmp/connectx-stress-plot.XXXXXX";
    int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0) << strerror(errno);
    ::close(fd);
    cxtest::cli_result r = run_stress(
        {"--plot", path, "-p", "32", "-d", "3", "-t", "tcp-bind,udp-reuseaddr,udp-connectx"});
    EXPECT_EQ(r.exit, 0) << r.err;
    std::ifstream in(path);
    std::stringstream svg;
    svg << in.rdbuf();
    ::unlink(path);
    cxtest::xml_summary x = cxtest::check_xml(svg.str());
    ASSERT_EQ(x.error, "") << svg.str();
    EXPECT_EQ(x.root, "svg");
    EXPECT_EQ(x.elements["polyline"], 6) << "time and cost curves of three techniques";
    for (const char* t : {"tcp-bind", "udp-reuseaddr", "udp-connectx"})
        EXPECT_NE(svg.str().find(std::string("data-technique=\"") + t + "\""), std::string::npos)
            << t;
    EXPECT_NE(svg.str().find("cost per connect against occupancy"), std::string::npos);
    EXPECT_NE(svg.str().find("connections established against time"), std::string::npos);
}

TEST(StressTool, PlotToAPathThatCannotBeWrittenFailsNamingIt) {
    CXTEST_REQUIRE_NETNS();
    cxtest::cli_result r =
        run_stress({"--plot", "/nonexistent/x.svg", "-p", "8", "-d", "1", "-t", "udp-connect"});
    EXPECT_EQ(r.exit, 1);
    EXPECT_EQ(r.err, "connectx-stress: --plot /nonexistent/x.svg: No such file or directory\n");
}

TEST(StressTool, TableOpensWithTheHeaderAndEndsWithLegendAndNotes) {
    CXTEST_REQUIRE_NETNS();
    cxtest::cli_result r = run_stress({"-p", "16", "-d", "2", "-t", "tcp-bind,udp-reuseaddr"});
    ASSERT_EQ(r.exit, 0) << r.err;
    EXPECT_EQ(r.out.rfind("connectx-stress: source 127.0.0.1, 16 local ports (32768-32783) x 2 "
                          "destinations = 32 distinct 4-tuples; round-robin fill; kernel ",
                          0),
              0u)
        << r.out;
    for (const char* want :
         {"cost per connect (mean, microseconds) by occupancy of the 32 4-tuples:",
          "0-10 %  10-50 %  50-90 %  99-100 %", "legend:", "none (limit)",
          "notes:", "tcp-bind: stopped at the port range (16)",
          "udp-reuseaddr: none (limit): all 33 attempts succeeded, one more than the 32",
          "differs from run to run"})
        EXPECT_NE(r.out.find(want), std::string::npos) << want << " missing in\n" << r.out;
}

// On a terminal, the progress line says which technique, how far, how fast, for how long and
// how long at most to go.
TEST(StressTool, ProgressLineOnATerminalShowsRateElapsedAndEta) {
    CXTEST_REQUIRE_NETNS();
    int master = -1;
    pid_t pid = ::forkpty(&master, nullptr, nullptr, nullptr);
    ASSERT_GE(pid, 0) << strerror(errno);
    if (pid == 0) {
        // 32,000 connects: long enough (> 0.5 s) for the line to be drawn.
        ::execl(CONNECTX_STRESS_BIN, CONNECTX_STRESS_BIN, "-p", "16000", "-d", "2", "-t",
                "udp-connectx", nullptr);
        ::_exit(127);
    }
    std::string out;
    char buf[4096];
    for (int waited_ms = 0; waited_ms < kRunLimitS * 1000;) {
        pollfd p{master, POLLIN, 0};
        int n = ::poll(&p, 1, 100);
        if (n == 0) {
            waited_ms += 100;
            continue;
        }
        ssize_t got = ::read(master, buf, sizeof buf);
        if (got <= 0) break;  // EIO: the child is gone
        out.append(buf, size_t(got));
    }
    ::close(master);
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
    EXPECT_NE(out.find("[1/1] udp-connectx ["), std::string::npos) << out;
    EXPECT_NE(out.find("/s  elapsed 0:"), std::string::npos) << out;
    EXPECT_NE(out.find("  ETA "), std::string::npos) << out;
    EXPECT_LT(out.find("connectx-stress: source"), out.find("[1/1]")) << "the header comes first";
}

}  // namespace
