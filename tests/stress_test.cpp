// stress_test.cpp - the connectx-stress binary end to end: for small ranges every technique's
// count and errno are exact, the JSON document keeps its schema, bad options fail with status 2.
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <connectx/connectx.h>
#if __has_include(<connectx/guard.h>)
#include <connectx/guard.h>
#define STRESS_TEST_HAVE_GUARD_API 1
#endif

#include "support/netns.hpp"

#ifndef CONNECTX_STRESS_BIN
#error "CONNECTX_STRESS_BIN (path of the connectx-stress binary) must be defined by CMake"
#endif

namespace {

// ---- running the binary ----------------------------------------------------------------------

struct run_output {
    int status = -1;  // exit status, or -1 when killed or not run
    std::string out;
    std::string err;
};

run_output run_stress(const std::vector<std::string>& args) {
    run_output r;
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) < 0 || ::pipe2(err, O_CLOEXEC) < 0) return r;
    pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(out[1], 1);
        ::dup2(err[1], 2);
        std::vector<char*> argv;
        std::string bin = CONNECTX_STRESS_BIN;
        argv.push_back(bin.data());
        std::vector<std::string> copy = args;
        for (auto& a : copy) argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execv(bin.c_str(), argv.data());
        ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    std::string* sinks[2] = {&r.out, &r.err};
    int open = 2;
    while (open > 0 && ::poll(fds, 2, -1) >= 0) {
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !fds[i].revents) continue;
            char buf[4096];
            ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
            if (n > 0) {
                sinks[i]->append(buf, size_t(n));
            } else {
                ::close(fds[i].fd);
                fds[i].fd = -1;
                --open;
            }
        }
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

// ---- a small JSON reader (enough for the document the tool prints) -----------------------------

struct json {
    enum kind_t { null_v, bool_v, number_v, string_v, array_v, object_v } kind = null_v;
    bool b = false;
    double n = 0;
    std::string s;
    std::vector<json> items;
    std::vector<std::pair<std::string, json>> members;  // in document order

    bool has(std::string_view key) const {
        for (const auto& m : members)
            if (m.first == key) return true;
        return false;
    }
    const json& operator[](std::string_view key) const {
        static const json missing;
        for (const auto& m : members)
            if (m.first == key) return m.second;
        ADD_FAILURE() << "JSON member missing: " << key;
        return missing;
    }
    std::set<std::string> keys() const {
        std::set<std::string> k;
        for (const auto& m : members) k.insert(m.first);
        return k;
    }
    uint64_t u() const { return uint64_t(n); }
};

class json_reader {
public:
    explicit json_reader(std::string_view text) : t_(text) {}
    bool parse(json& out) {
        out = value();
        skip();
        return ok_ && i_ == t_.size();
    }

private:
    void skip() {
        while (i_ < t_.size() && std::strchr(" \t\r\n", t_[i_])) ++i_;
    }
    bool eat(char c) {
        skip();
        if (i_ < t_.size() && t_[i_] == c) {
            ++i_;
            return true;
        }
        return false;
    }
    bool word(std::string_view w) {
        if (t_.substr(i_, w.size()) != w) return ok_ = false;
        i_ += w.size();
        return true;
    }
    std::string string() {
        std::string s;
        if (!eat('"')) {
            ok_ = false;
            return s;
        }
        while (i_ < t_.size() && t_[i_] != '"') {
            char c = t_[i_++];
            if (c == '\\' && i_ < t_.size()) {
                char e = t_[i_++];
                if (e == 'u') {  // only control characters are escaped this way
                    s += char(std::stoi(std::string(t_.substr(i_, 4)), nullptr, 16));
                    i_ += 4;
                } else {
                    s += e == 'n' ? '\n' : e;
                }
            } else {
                s += c;
            }
        }
        if (i_ >= t_.size()) ok_ = false;
        ++i_;
        return s;
    }
    json value() {
        json v;
        skip();
        if (i_ >= t_.size()) {
            ok_ = false;
            return v;
        }
        char c = t_[i_];
        if (c == '{') {
            v.kind = json::object_v;
            ++i_;
            if (eat('}')) return v;
            do {
                std::string k = string();
                if (!eat(':')) ok_ = false;
                v.members.emplace_back(k, value());
            } while (ok_ && eat(','));
            if (!eat('}')) ok_ = false;
        } else if (c == '[') {
            v.kind = json::array_v;
            ++i_;
            if (eat(']')) return v;
            do v.items.push_back(value());
            while (ok_ && eat(','));
            if (!eat(']')) ok_ = false;
        } else if (c == '"') {
            v.kind = json::string_v;
            v.s = string();
        } else if (c == 't' || c == 'f') {
            v.kind = json::bool_v;
            v.b = c == 't';
            word(v.b ? "true" : "false");
        } else if (c == 'n') {
            word("null");
        } else {
            v.kind = json::number_v;
            size_t used = 0;
            try {
                v.n = std::stod(std::string(t_.substr(i_, 32)), &used);
            } catch (...) {
                ok_ = false;
            }
            i_ += used;
        }
        return v;
    }

    std::string_view t_;
    size_t i_ = 0;
    bool ok_ = true;
};

// Runs the tool with --json and returns the document (fails the test when it is not valid).
json run_json(std::vector<std::string> args) {
    args.push_back("--json");
    run_output r = run_stress(args);
    EXPECT_EQ(r.status, 0) << "stderr: " << r.err << "\nstdout: " << r.out;
    json doc;
    EXPECT_TRUE(json_reader(r.out).parse(doc)) << "not JSON:\n" << r.out;
    return doc;
}

// The results, by technique name.
std::map<std::string, json> by_technique(const json& doc) {
    std::map<std::string, json> m;
    for (const auto& r : doc["results"].items) m[r["technique"].s] = r;
    return m;
}

// A row that reached its ceiling: `established` connections, then `errno_name`.
void expect_ceiling(const json& row, uint64_t established, const char* errno_name, bool shared) {
    SCOPED_TRACE(row["technique"].s);
    EXPECT_EQ(row["status"].s, "failure");
    EXPECT_EQ(row["established"].u(), established);
    EXPECT_EQ(row["errno_name"].s, errno_name);
    EXPECT_EQ(row["diag_established"].u(), established) << "SOCK_DIAG saw another count";
    EXPECT_EQ(row["duplicate_tuples"].u(), 0u);
    EXPECT_EQ(row["shared_local_pairs"].b, shared);
    EXPECT_EQ(row["diag_errno"].n, 0);
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
    EXPECT_EQ(rows["tcp-bind"]["local_pairs"].u(), 64u) << "one port locked per connection";
    expect_ceiling(rows["tcp-no-port"], 256, "EADDRNOTAVAIL", true);
    expect_ceiling(rows["tcp-reuseaddr"], 256, "EADDRNOTAVAIL", true);
    expect_ceiling(rows["tcp-connectx"], 256, "EADDRNOTAVAIL", true);
    EXPECT_EQ(rows["tcp-connectx"]["local_pairs"].u(), 64u) << "every port serves 4 destinations";
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
    EXPECT_EQ(row["status"].s, "limit");
    EXPECT_EQ(row["established"].u(), 257u);
    EXPECT_EQ(row["limit"].u(), 257u);
    EXPECT_EQ(row["errno"].n, 0);
    EXPECT_EQ(row["errno_name"].kind, json::null_v);
    EXPECT_GE(row["duplicate_tuples"].u(), 1u);
    EXPECT_EQ(row["diag_established"].u(), 257u);
}

TEST(StressTool, UdpConnectxReachesRangeTimesDestinationsThenEagain) {
    CXTEST_REQUIRE_NETNS();
    json doc = run_json({"--ports", "64", "-d", "4", "-t", "udp-connectx"});
    expect_ceiling(by_technique(doc)["udp-connectx"], 256, "EAGAIN", true);
}

TEST(StressTool, GuardedRowMatchesTheBuild) {
    CXTEST_REQUIRE_NETNS();
    run_output r = run_stress({"--ports", "16", "-d", "2", "-t", "udp-connectx-guard", "--json"});
    json doc;
    ASSERT_TRUE(json_reader(r.out).parse(doc)) << r.out << r.err;
    json row = by_technique(doc)["udp-connectx-guard"];
    if (!guard_available()) {
        EXPECT_EQ(r.status, 0);
        EXPECT_EQ(row["status"].s, "not-built");
        EXPECT_EQ(row["established"].u(), 0u);
        EXPECT_NE(row["message"].s, "");
        return;
    }
    ASSERT_EQ(r.status, 0) << row["message"].s;
    expect_ceiling(row, 32, "EAGAIN", true);
}

TEST(StressTool, SequentialFillReachesTheSameCeilings) {
    CXTEST_REQUIRE_NETNS();
    json doc = run_json({"--fill", "sequential", "--ports", "32", "-d", "3", "-t",
                         "tcp-bind,tcp-reuseaddr,tcp-connectx,udp-connect,udp-connectx"});
    EXPECT_EQ(doc["fill"].s, "sequential");
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
        EXPECT_EQ(row["status"].s, "limit");
        EXPECT_EQ(row["established"].u(), 10u);
        EXPECT_EQ(row["errno_name"].kind, json::null_v);
        EXPECT_EQ(row["diag_established"].u(), 10u);
    }
}

TEST(StressTool, Ipv6CeilingsAreExact) {
    CXTEST_REQUIRE_NETNS();
    json doc = run_json({"-6", "--ports", "40000-40015", "-d", "3", "-t", "tcp-bind,tcp-connectx,udp-connect"});
    EXPECT_EQ(doc["family"].s, "ipv6");
    EXPECT_EQ(doc["source"].s, "2001:db8::1");
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
    EXPECT_GE(row["holders"].u(), 2u);
}

TEST(StressTool, JsonSchemaIsStable) {
    CXTEST_REQUIRE_NETNS();
    json doc = run_json({"--ports", "8", "-d", "2", "-t", "tcp-connect"});
    EXPECT_EQ(doc["schema"].s, "connectx-stress/1");
    EXPECT_EQ(doc.keys(), (std::set<std::string>{"schema", "version", "kernel", "mode", "family",
                                                 "source", "destinations", "fill", "server_port",
                                                 "port_range", "capacity", "timeout_s",
                                                 "results"}));
    EXPECT_EQ(doc["mode"].s, "compare");
    EXPECT_EQ(doc["fill"].s, "round-robin");
    EXPECT_EQ(doc["family"].s, "ipv4");
    EXPECT_EQ(doc["source"].s, "127.0.0.1");
    EXPECT_EQ(doc["destinations"].u(), 2u);
    EXPECT_EQ(doc["server_port"].u(), 80u);
    EXPECT_EQ(doc["port_range"]["lo"].u(), 32768u);
    EXPECT_EQ(doc["port_range"]["hi"].u(), 32775u);
    EXPECT_EQ(doc["port_range"]["size"].u(), 8u);
    EXPECT_EQ(doc["capacity"].u(), 16u);
    ASSERT_EQ(doc["results"].items.size(), 1u);
    const json& row = doc["results"].items[0];
    EXPECT_EQ(row.keys(),
              (std::set<std::string>{"technique", "protocol", "description", "status",
                                     "established", "limit", "errno", "errno_name",
                                     "shared_local_pairs", "local_pairs", "duplicate_tuples",
                                     "diag_established", "diag_errno", "holders", "open_seconds",
                                     "wall_seconds", "connects_per_second", "slab_delta_bytes",
                                     "kernel_bytes_per_connection", "message"}));
    EXPECT_EQ(row["protocol"].s, "tcp");
    EXPECT_EQ(row["description"].s, "connect(dst)");
    EXPECT_EQ(row["limit"].u(), 17u);
    EXPECT_EQ(row["errno"].n, EADDRNOTAVAIL);
    EXPECT_EQ(row["holders"].u(), 1u);
    EXPECT_GT(row["open_seconds"].n, 0);
    EXPECT_GE(row["wall_seconds"].n, row["open_seconds"].n);
    EXPECT_GT(row["connects_per_second"].n, 0);
}

TEST(StressTool, DefaultRunPrintsTheTableOfEveryTechnique) {
    CXTEST_REQUIRE_NETNS();
    run_output r = run_stress({});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("64 local ports (32768-32831) x 4 destinations = 256"),
              std::string::npos)
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
                                          {"--techniques", "tcp-nope"},
                                          {"--techniques", ""},
                                          {"--count", "0"},
                                          {"--timeout", "0"},
                                          {"--fill", "random"},
                                          {"--bogus"},
                                          {"extra"},
                                          {"--ports"}}) {
        run_output r = run_stress(args);
        EXPECT_EQ(r.status, 2) << args[0];
        EXPECT_NE(r.err.find("connectx-stress: "), std::string::npos) << r.err;
        EXPECT_EQ(r.out, "");
    }
}

TEST(StressTool, HelpAndVersion) {
    run_output h = run_stress({"--help"});
    EXPECT_EQ(h.status, 0);
    EXPECT_NE(h.out.find("--scale"), std::string::npos);
    run_output v = run_stress({"--version"});
    EXPECT_EQ(v.status, 0);
    EXPECT_EQ(v.out, "connectx-stress " + std::to_string(CONNECTX_VERSION_MAJOR) + "." +
                         std::to_string(CONNECTX_VERSION_MINOR) + "." +
                         std::to_string(CONNECTX_VERSION_PATCH) + "\n");
}

}  // namespace
