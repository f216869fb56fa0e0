// main.cpp - connectx(1): read the command line, resolve, connect with the pinned source, run the
// HTTP or stream transfer, print -w, exit with curl's status numbers.
#include <connectx/connectx.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "cli_args.hpp"
#include "connector.hpp"
#include "exit_codes.hpp"
#include "http_client.hpp"
#include "io.hpp"
#include "resolve.hpp"
#include "stream_io.hpp"
#include "url.hpp"
#include "write_out.hpp"

namespace {

using namespace cxcli;

constexpr double kDefaultConnectTimeout = 300;  // curl's
constexpr double kDefaultUdpIdle = 1;

#define CXCLI_STR2(x) #x
#define CXCLI_STR(x) CXCLI_STR2(x)
constexpr const char* kVersion = CXCLI_STR(CONNECTX_VERSION_MAJOR) "." CXCLI_STR(
    CONNECTX_VERSION_MINOR) "." CXCLI_STR(CONNECTX_VERSION_PATCH);

struct run_state {
    cli_args args;
    transfer_report report;
    clock::time_point start = clock::now();
};

// Reads "@file" (or "@-") arguments in place. Returns 0 or an errno, naming the file in `which`.
int load_at_file(std::string& value, std::string& which) {
    if (value.empty() || value[0] != '@') return 0;
    which = value.substr(1);
    std::string content;
    if (int e = read_file(which.c_str(), content)) return e;
    value = std::move(content);
    return 0;
}

int finish(run_state& s, int code, const std::string& error) {
    s.report.exit_code = code;
    s.report.errormsg = error;
    s.report.time_total = seconds_since(s.start);
    if (!s.args.write_out.empty()) {
        std::vector<std::string> unknown;
        std::string text = format_write_out(s.args.write_out, s.report, unknown);
        for (const auto& name : unknown)
            trace_line("connectx: ", "unknown --write-out variable: '" + name + "'");
        if (write_all(STDOUT_FILENO, text) != 0 && code == 0) code = exit_write;
    }
    if (code != 0 && (!s.args.silent || s.args.show_error))
        trace_line("connectx: ", "(" + std::to_string(code) + ") " + error);
    return code;
}

int usage_error(const std::string& why) {
    trace_line("connectx: ", why);
    trace_line("connectx: ", "try 'connectx --help' for more information");
    return exit_usage;
}

// The source options as a connect-time spec; an error text when the interface does not exist.
std::string source_from(const cli_args& a, source_spec& src) {
    src.ip = a.source_ip;
    src.port = a.source_port;
    if (a.local_port) {
        if (a.local_port->lo == a.local_port->hi)
            src.port = a.local_port->lo;
        else
            src.range = a.local_port;
    }
    if (!a.interface_name.empty()) {
        src.ifname = a.interface_name;
        src.ifindex = interface_index(a.interface_name);
        if (!src.ifindex) return "interface " + a.interface_name + " does not exist";
    }
    return {};
}

// The HTTP exchange or the tcp/udp pump over the connected socket.
transfer_result transfer(const cli_args& a, const url& u, int sock, int out_fd,
                         const deadline& max_time, clock::time_point start) {
    if (u.scheme == scheme::http) {
        http_options h;
        h.request.method = !a.method.empty() ? a.method : a.head ? "HEAD" : a.data ? "POST" : "GET";
        h.request.target = u.target;
        h.request.host = host_header(u);
        h.request.user_agent =
            a.user_agent.empty() ? std::string("connectx/") + kVersion : a.user_agent;
        h.request.headers = a.headers;
        h.request.body = a.data ? &*a.data : nullptr;
        h.include_head = a.include || a.head;
        h.fail_on_error = a.fail;
        h.verbose = a.verbose;
        return http_transfer(sock, h, out_fd, max_time, start);
    }
    stream_options o;
    o.udp = u.scheme == scheme::udp;
    o.data = a.data ? &*a.data : nullptr;
    o.idle_timeout = a.idle_timeout ? *a.idle_timeout : o.udp ? kDefaultUdpIdle : 0;
    o.verbose = a.verbose;
    return stream_transfer(sock, o, out_fd, max_time, start);
}

int run(int argc, char** argv) {
    run_state s;
    parse_outcome parsed = parse_args(std::vector<std::string>(argv + 1, argv + argc));
    if (!parsed.error.empty()) return usage_error(parsed.error);
    s.args = std::move(parsed.args);
    cli_args& a = s.args;
    if (a.help) return write_all(STDOUT_FILENO, usage_text()) ? exit_write : exit_ok;
    if (a.version) {
        std::string v = std::string("connectx ") + kVersion + " (libconnectx)\n";
        return write_all(STDOUT_FILENO, v) ? exit_write : exit_ok;
    }

    s.report.url = a.url;
    url_outcome u = parse_url(a.url);
    if (u.exit) return finish(s, u.exit, u.error);
    s.report.scheme = scheme_name(u.url.scheme);
    bool http = u.url.scheme == scheme::http;
    if (!http && (!a.method.empty() || !a.headers.empty() || a.head || a.include || a.fail))
        return usage_error("-X, -H, -I, -i and -f apply to http:// URLs only");

    std::string file;
    if (a.data) {
        if (int e = load_at_file(*a.data, file))
            return finish(s, exit_read, "cannot read " + file + ": " + std::strerror(e));
    }
    if (int e = load_at_file(a.write_out, file))
        return finish(s, exit_read, "cannot read " + file + ": " + std::strerror(e));

    source_spec src;
    if (std::string why = source_from(a, src); !why.empty()) return finish(s, exit_interface, why);

    int socktype = u.url.scheme == scheme::udp ? SOCK_DGRAM : SOCK_STREAM;
    // Not narrowed to the source's family: an address of the wrong family is then reported as
    // a source problem (45) naming both, rather than as a name that does not resolve.
    resolve_outcome res = resolve_host(u.url.host, u.url.port, a.family, socktype);
    s.report.time_namelookup = seconds_since(s.start);
    if (res.addresses.empty())
        return finish(s, exit_resolve,
                      "Could not resolve host: " + u.url.host + " (" + res.error + ")");

    deadline max_time = deadline::after(a.max_time);
    double ct = a.connect_timeout > 0 ? a.connect_timeout : kDefaultConnectTimeout;
    connect_request req;
    req.host = u.url.host;
    req.candidates = std::move(res.addresses);
    req.socktype = socktype;
    req.source = src;
    req.until = deadline::earliest(deadline::after(ct), max_time);
    req.until_is_connect_timeout = max_time.is_never() || a.max_time >= ct;
    req.start = s.start;
    req.verbose = a.verbose;
    connect_outcome c = open_connection(req);
    if (c.exit) return finish(s, c.exit, c.error);
    s.report.time_connect = seconds_since(s.start);
    s.report.num_connects = 1;
    s.report.local = c.conn.local;
    s.report.remote = c.conn.remote;
    s.report.technique = connectx_technique_name(c.conn.technique);

    unique_fd out_file;
    int out_fd = STDOUT_FILENO;
    if (!a.output.empty() && a.output != "-") {
        out_file.reset(::open(a.output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666));
        if (!out_file)
            return finish(s, exit_write, "cannot open " + a.output + ": " + std::strerror(errno));
        out_fd = out_file.get();
    }

    transfer_result t = transfer(a, u.url, c.conn.fd.get(), out_fd, max_time, s.start);
    s.report.http_code = t.http_code;
    s.report.size_download = t.received;
    s.report.size_upload = t.sent;
    c.conn.fd.reset();
    // close() is where a full disk or a quota shows up for -o: check it.
    if (out_file && ::close(out_file.release()) != 0 && t.exit == 0)
        return finish(s, exit_write, "cannot write " + a.output + ": " + std::strerror(errno));
    return finish(s, t.exit, t.error);
}

}  // namespace

int main(int argc, char** argv) {
    // A closed stdout or peer must become EPIPE, reported as an exit status, not a silent death.
    ::signal(SIGPIPE, SIG_IGN);
    return run(argc, argv);
}
