// main.cpp - connectx(1): read the command line, then either hand http:// and https:// URLs to
// libcurl (with connectx making each connection) or run a raw tcp:// / udp:// exchange, and
// exit with curl's status numbers.
#include <connectx/connectx.h>
#include <curl/curl.h>
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
#include "http_transfer.hpp"
#include "io.hpp"
#include "request_body.hpp"
#include "resolve.hpp"
#include "stream_io.hpp"
#include "url.hpp"
#include "write_out.hpp"

namespace {

using namespace cxcli;

constexpr double kDefaultUdpIdle = 1;

#define CXCLI_STR2(x) #x
#define CXCLI_STR(x) CXCLI_STR2(x)
constexpr const char* kVersion = CXCLI_STR(CONNECTX_VERSION_MAJOR) "." CXCLI_STR(
    CONNECTX_VERSION_MINOR) "." CXCLI_STR(CONNECTX_VERSION_PATCH);

bool quiet(const cli_args& a) {
    return a.silent && !a.show_error;
}

int fail(const cli_args& a, int code, const std::string& error) {
    if (!quiet(a)) trace_line("connectx: ", "(" + std::to_string(code) + ") " + error);
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
    src.pool = a.source_pool;
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

// -w for tcp:// and udp://: the variables that mean something without HTTP.
void stream_write_out(const cli_args& a, const std::string& format, const connection* c,
                      const transfer_result& t, int code, const std::string& error, double total) {
    if (format.empty()) return;
    write_out_report r;
    auto str = [](std::optional<std::string> s) {
        return wo_value{wo_value::type::string, 0, 0, std::move(s)};
    };
    auto num = [](int64_t v) { return wo_value{wo_value::type::integer, v, 0, std::nullopt}; };
    r.vars = {
        {"errormsg", str(code ? std::optional<std::string>(error) : std::nullopt)},
        {"exitcode", num(code)},
        {"local_ip", str(c ? c->local.ip_string() : "")},
        {"local_port", num(c ? c->local.port() : 0)},
        {"num_connects", num(c ? 1 : 0)},
        {"remote_ip", str(c ? c->remote.ip_string() : "")},
        {"remote_port", num(c ? c->remote.port() : 0)},
        {"scheme", str(std::string(a.urls[0].substr(0, 3)))},
        {"size_download", num(int64_t(t.received))},
        {"size_upload", num(int64_t(t.sent))},
        {"technique",
         str(c ? std::optional<std::string>(connectx_technique_name(c->technique)) : std::nullopt)},
        {"time_total", wo_value{wo_value::type::seconds, int64_t(total * 1e6), 0, std::nullopt}},
        {"url", str(a.urls[0])},
    };
    r.exit_code = code;
    write_out_text w = format_write_out(format, r);
    for (const auto& name : w.unknown)
        trace_line("connectx: ", "unknown --write-out variable: '" + name + "'");
    write_all(STDOUT_FILENO, w.out);
    write_all(STDERR_FILENO, w.err);
}

int run_stream(const cli_args& a, const source_spec& src, const std::string& write_out) {
    auto start = clock::now();
    auto finish = [&](const connection* c, const transfer_result& t) {
        stream_write_out(a, write_out, c, t, t.exit, t.error, seconds_since(start));
        return t.exit ? fail(a, t.exit, t.error) : 0;
    };
    stream_url_outcome u = parse_stream_url(a.urls[0]);
    if (u.exit) return finish(nullptr, {u.exit, u.error, 0, 0, 0});
    int socktype = u.url.udp ? SOCK_DGRAM : SOCK_STREAM;
    resolve_outcome res = resolve_host(u.url.host, u.url.port, a.family, socktype);
    if (res.addresses.empty())
        return finish(nullptr, {exit_resolve,
                                "Could not resolve host: " + u.url.host + " (" + res.error + ")"});
    deadline max_time = deadline::after(a.max_time);
    double ct = a.connect_timeout > 0 ? a.connect_timeout : 300;  // curl's default
    connect_request req;
    req.host = u.url.host;
    req.candidates = std::move(res.addresses);
    req.socktype = socktype;
    req.source = src;
    req.until = deadline::earliest(deadline::after(ct), max_time);
    req.until_is_connect_timeout = max_time.is_never() || a.max_time >= ct;
    req.start = start;
    req.verbose = a.verbose;
    connect_outcome c = open_connection(req);
    if (c.exit) return finish(nullptr, {c.exit, c.error, 0, 0, 0});
    stream_options o;
    o.udp = u.url.udp;
    body_outcome data = build_body(a.data, &read_file);
    if (data.err)
        return finish(
            &c.conn,
            {exit_read, "cannot read " + data.file + ": " + std::strerror(data.err), 0, 0, 0});
    o.data = a.data.empty() ? nullptr : &data.body;
    o.idle_timeout = a.idle_timeout ? *a.idle_timeout : o.udp ? kDefaultUdpIdle : 0;
    o.verbose = a.verbose;
    transfer_result t = stream_transfer(c.conn.fd.get(), o, STDOUT_FILENO, max_time, start);
    return finish(&c.conn, t);
}

// Options that only HTTP has make no sense on a raw stream: say so rather than ignore them.
std::string stream_misfits(const cli_args& a) {
    if (a.urls.size() != 1) return "tcp:// and udp:// take exactly one URL";
    if (!a.method.empty() || !a.headers.empty() || a.head || a.include || a.fail || a.location ||
        !a.form.empty() || !a.upload_file.empty() || !a.outputs.empty() || !a.user.empty())
        return "-X, -H, -I, -i, -f, -L, -F, -T, -o, -O and -u apply to http(s):// URLs only";
    return {};
}

int run(int argc, char** argv) {
    parse_outcome parsed = parse_args(std::vector<std::string>(argv, argv + argc));
    if (!parsed.error.empty()) return usage_error(parsed.error);
    const cli_args& a = parsed.args;
    if (a.help) return write_all(STDOUT_FILENO, usage_text()) ? exit_write : exit_ok;
    if (a.version_asked) {
        std::string v =
            std::string("connectx ") + kVersion + " (libconnectx) " + curl_version() + "\n";
        return write_all(STDOUT_FILENO, v) ? exit_write : exit_ok;
    }
    bool stream = is_stream_url(a.urls[0]);
    if (stream) {
        if (std::string why = stream_misfits(a); !why.empty()) return usage_error(why);
    }
    for (const auto& url : a.urls)
        if (std::string why = check_zone(url); !why.empty())
            return fail(a, exit_url_malformed, why);
    std::string write_out = a.write_out;
    if (!write_out.empty() && write_out[0] == '@') {
        std::string file = write_out.substr(1);
        write_out.clear();
        if (int e = read_file(file.c_str(), write_out))
            return fail(a, exit_read, "cannot read " + file + ": " + std::strerror(e));
    }
    source_spec src;
    if (std::string why = source_from(a, src); !why.empty()) return fail(a, exit_interface, why);
    if (stream) return run_stream(a, src, write_out);
    return run_http(a, src, write_out, std::string("connectx/") + kVersion);
}

}  // namespace

int main(int argc, char** argv) {
    // A closed stdout or peer must become EPIPE, reported as an exit status, not a silent death.
    ::signal(SIGPIPE, SIG_IGN);
    return run(argc, argv);
}
