// cli_args.cpp - command-line parsing: curl's option spellings (short options bundle, "-XPOST"
// and "-X POST" both work, "--name value" and "--name=value" both work), checked for form only.
#include "cli_args.hpp"

#include <sys/socket.h>

#include <cmath>
#include <cstdlib>
#include <string_view>

namespace cxcli {
namespace {

enum class opt_id {
    ipv4,
    ipv6,
    user_agent,
    connect_timeout,
    data,
    fail,
    header,
    help,
    include,
    head,
    interface,
    local_port,
    source,
    max_time,
    idle_timeout,
    output,
    silent,
    show_error,
    verbose,
    version,
    write_out,
    request,
};

struct opt_spec {
    char short_name;  // 0 = long only
    const char* long_name;
    bool takes_value;
    opt_id id;
};

constexpr opt_spec kOptions[] = {
    {'4', "ipv4", false, opt_id::ipv4},
    {'6', "ipv6", false, opt_id::ipv6},
    {'A', "user-agent", true, opt_id::user_agent},
    {0, "connect-timeout", true, opt_id::connect_timeout},
    {'d', "data", true, opt_id::data},
    {'f', "fail", false, opt_id::fail},
    {'H', "header", true, opt_id::header},
    {'h', "help", false, opt_id::help},
    {'i', "include", false, opt_id::include},
    {'I', "head", false, opt_id::head},
    {0, "interface", true, opt_id::interface},
    {0, "local-port", true, opt_id::local_port},
    {0, "source", true, opt_id::source},
    {'m', "max-time", true, opt_id::max_time},
    {0, "idle-timeout", true, opt_id::idle_timeout},
    {'o', "output", true, opt_id::output},
    {'s', "silent", false, opt_id::silent},
    {'S', "show-error", false, opt_id::show_error},
    {'v', "verbose", false, opt_id::verbose},
    {'V', "version", false, opt_id::version},
    {'w', "write-out", true, opt_id::write_out},
    {'X', "request", true, opt_id::request},
};

const opt_spec* find_short(char c) {
    for (const auto& o : kOptions)
        if (o.short_name == c) return &o;
    return nullptr;
}

const opt_spec* find_long(std::string_view name) {
    for (const auto& o : kOptions)
        if (name == o.long_name) return &o;
    return nullptr;
}

std::string spelling(const opt_spec& o) {
    return o.short_name ? std::string("-") + o.short_name : std::string("--") + o.long_name;
}

bool parse_port(std::string_view s, uint16_t& out) {
    if (s.empty() || s.size() > 5) return false;
    uint32_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + uint32_t(c - '0');
    }
    if (v == 0 || v > 65535) return false;
    out = uint16_t(v);
    return true;
}

// Source IPs as each option gave them, reconciled once the whole line is read.
struct source_ips {
    std::optional<cx::address> from_source;     // --source
    std::optional<cx::address> from_interface;  // --interface IP
};

// Applies one option with its value; returns an error text or "".
std::string apply(cli_args& a, source_ips& ips, const opt_spec& o, const std::string& v) {
    auto bad = [&](const char* why) { return "option " + spelling(o) + ": " + why; };
    switch (o.id) {
        case opt_id::ipv4:
            a.family = AF_INET;
            break;
        case opt_id::ipv6:
            a.family = AF_INET6;
            break;
        case opt_id::user_agent:
            a.user_agent = v;
            break;
        case opt_id::data:
            a.data = v;
            break;
        case opt_id::fail:
            a.fail = true;
            break;
        case opt_id::header:
            if (v.find(':') == std::string::npos) return bad("expected \"Name: value\"");
            if (v.find_first_of("\r\n") != std::string::npos) return bad("header contains CR/LF");
            a.headers.push_back(v);
            break;
        case opt_id::help:
            a.help = true;
            break;
        case opt_id::include:
            a.include = true;
            break;
        case opt_id::head:
            a.head = true;
            break;
        case opt_id::output:
            a.output = v;
            break;
        case opt_id::silent:
            a.silent = true;
            break;
        case opt_id::show_error:
            a.show_error = true;
            break;
        case opt_id::verbose:
            a.verbose = true;
            break;
        case opt_id::version:
            a.version = true;
            break;
        case opt_id::write_out:
            a.write_out = v;
            break;
        case opt_id::request:
            if (v.empty() || v.find_first_of(" \t\r\n") != std::string::npos)
                return bad("expected a method name");
            a.method = v;
            break;
        case opt_id::connect_timeout:
        case opt_id::max_time:
        case opt_id::idle_timeout: {
            auto s = parse_seconds(v);
            if (!s) return bad("expected a number of seconds");
            if (o.id == opt_id::connect_timeout)
                a.connect_timeout = *s;
            else if (o.id == opt_id::max_time)
                a.max_time = *s;
            else
                a.idle_timeout = *s;
            break;
        }
        case opt_id::local_port: {
            auto span = parse_port_span(v);
            if (!span) return bad("expected a port 1-65535 or a range N-M with N <= M");
            a.local_port = span;
            break;
        }
        case opt_id::source: {
            auto addr = cx::address::parse(v);
            if (!addr || addr->is_wildcard()) return bad("expected a numeric IP[:PORT]");
            a.source_port = addr->port();
            addr->set_port(0);
            ips.from_source = *addr;
            break;
        }
        case opt_id::interface: {
            if (v.empty()) return bad("expected an interface name or IP address");
            // A numeric address is a source IP; anything else names an interface.
            if (auto addr = cx::address::parse(v); addr && addr->port() == 0) {
                if (addr->is_wildcard()) return bad("a wildcard address is not a source");
                a.interface_name.clear();
                ips.from_interface = *addr;
            } else {
                a.interface_name = v;
                ips.from_interface.reset();
            }
            break;
        }
    }
    return {};
}

// Options that contradict each other. --interface IP and --source IP both set the source IP:
// letting one win silently would hide a typo, so they must agree.
std::string reconcile(cli_args& a, const source_ips& ips) {
    if (ips.from_source && ips.from_interface && *ips.from_source != *ips.from_interface)
        return "--interface IP and --source IP name different addresses";
    a.source_ip = ips.from_source ? ips.from_source : ips.from_interface;
    if (a.source_port != 0 && a.local_port)
        return "--source IP:PORT and --local-port both set the source port";
    if (a.source_ip && a.family && a.source_ip->family() != a.family)
        return a.family == AF_INET ? "-4 given with an IPv6 source address"
                                   : "-6 given with an IPv4 source address";
    if (a.head && a.data) return "-I (HEAD) and -d cannot be combined";
    return {};
}

}  // namespace

std::optional<port_span> parse_port_span(const std::string& text) {
    std::string_view s = text;
    port_span span;
    size_t dash = s.find('-');
    if (dash == std::string_view::npos) {
        if (!parse_port(s, span.lo)) return std::nullopt;
        span.hi = span.lo;
        return span;
    }
    if (!parse_port(s.substr(0, dash), span.lo) || !parse_port(s.substr(dash + 1), span.hi))
        return std::nullopt;
    if (span.lo > span.hi) return std::nullopt;
    return span;
}

std::optional<double> parse_seconds(const std::string& text) {
    if (text.empty() || text.size() > 32) return std::nullopt;
    for (char c : text)
        if (!((c >= '0' && c <= '9') || c == '.')) return std::nullopt;  // no sign, no exponent
    char* end = nullptr;
    double v = std::strtod(text.c_str(), &end);
    if (end != text.c_str() + text.size() || !std::isfinite(v) || v > 1e9) return std::nullopt;
    return v;
}

parse_outcome parse_args(const std::vector<std::string>& argv) {
    parse_outcome out;
    cli_args& a = out.args;
    std::vector<std::string> positional;
    source_ips ips;
    auto take = [&](const opt_spec& o, const std::string& value) {
        return apply(a, ips, o, value);
    };

    bool options_done = false;
    for (size_t i = 0; i < argv.size() && out.error.empty(); ++i) {
        const std::string& arg = argv[i];
        if (options_done || arg.size() < 2 || arg[0] != '-') {
            positional.push_back(arg);
            continue;
        }
        if (arg == "--") {
            options_done = true;
            continue;
        }
        if (arg[1] == '-') {
            std::string name = arg.substr(2), value;
            size_t eq = name.find('=');
            bool inline_value = eq != std::string::npos;
            if (inline_value) {
                value = name.substr(eq + 1);
                name.resize(eq);
            }
            const opt_spec* o = find_long(name);
            if (!o) {
                out.error = "option --" + name + ": is unknown";
            } else if (o->takes_value && !inline_value) {
                if (i + 1 >= argv.size())
                    out.error = "option --" + name + ": requires a value";
                else
                    out.error = take(*o, argv[++i]);
            } else if (!o->takes_value && inline_value) {
                out.error = "option --" + name + ": takes no value";
            } else {
                out.error = take(*o, value);
            }
            continue;
        }
        // A bundle of short options; the first that takes a value eats the rest or the next arg.
        for (size_t k = 1; k < arg.size() && out.error.empty(); ++k) {
            const opt_spec* o = find_short(arg[k]);
            if (!o) {
                out.error = std::string("option -") + arg[k] + ": is unknown";
                break;
            }
            if (!o->takes_value) {
                out.error = take(*o, {});
                continue;
            }
            if (k + 1 < arg.size()) {
                out.error = take(*o, arg.substr(k + 1));
            } else if (i + 1 < argv.size()) {
                out.error = take(*o, argv[++i]);
            } else {
                out.error = std::string("option -") + arg[k] + ": requires a value";
            }
            break;
        }
    }
    if (!out.error.empty()) return out;
    if (a.help || a.version) return out;
    if (positional.empty()) {
        out.error = "no URL specified";
    } else if (positional.size() > 1) {
        out.error = "exactly one URL is accepted (got \"" + positional[1] + "\" too)";
    } else {
        a.url = positional[0];
        out.error = reconcile(a, ips);
    }
    return out;
}

}  // namespace cxcli

namespace cxcli {

const char* usage_text() {
    return R"(Usage: connectx [options] URL
A curl-like client that pins the source of the connection (address, port or port range,
interface), with connectx underneath: a fixed source port works again while the previous
connection with it sits in TIME_WAIT, wherever the kernel allows the 4-tuple to be reused.

URL forms:
  http://HOST[:PORT]/PATH   HTTP/1.1 request; the body goes to the output
  tcp://HOST:PORT           send -d DATA or standard input, print what comes back until EOF
  udp://HOST:PORT           send -d DATA (one datagram) or standard input (a datagram per read),
                            print the replies until the idle timeout
  HOST is a name, an IPv4 address or [IPv6] ("[fe80::1%25eth0]" with a zone).

Source of the connection:
      --interface NAME|IP   bind to interface NAME (SO_BINDTODEVICE), or use source address IP
      --local-port N[-M]    source port N, or any free port of N-M (moves on when one is taken)
      --source IP[:PORT]    source address, and optionally port
  -4, --ipv4                use IPv4 addresses only
  -6, --ipv6                use IPv6 addresses only

HTTP:
  -X, --request METHOD      request method (default GET, HEAD with -I, POST with -d)
  -H, --header "N: V"       add a header; "N:" removes a default one
  -A, --user-agent TEXT     User-Agent header (default connectx/VERSION)
  -d, --data DATA|@FILE     request body (POST), sent as is; @- reads standard input
  -i, --include             write the response head to the output too
  -I, --head                HEAD request; write the response head
  -f, --fail                exit 22 without output on HTTP status >= 400

Output and time limits:
  -o, --output FILE         write to FILE instead of standard output
  -w, --write-out FORMAT    print FORMAT to standard output when done (@FILE reads it), with
                            %{local_ip} %{local_port} %{remote_ip} %{remote_port} %{http_code}
                            %{time_namelookup} %{time_connect} %{time_total} %{size_download}
                            %{size_upload} %{num_connects} %{technique} %{exitcode} %{errormsg}
                            %{url} %{scheme}, and \n \t \r \\ %%
      --connect-timeout S   give up connecting after S seconds (default 300)
  -m, --max-time S          give up the whole operation after S seconds
      --idle-timeout S      tcp://, udp://: stop after S seconds without data once the input
                            has ended (default: udp 1, tcp none)
  -v, --verbose             trace the connection (4-tuple, connectx technique) and HTTP heads
  -s, --silent              no error messages
  -S, --show-error          error messages even with -s
  -h, --help                this text
  -V, --version             version

Exit status (curl's numbers where the meaning is the same):
   0 success                          22 HTTP status >= 400 with -f
   1 unsupported URL scheme           23 could not write the output
   2 bad command line                 26 could not read -d @FILE or standard input
   3 malformed URL; link-local        28 timeout (--connect-timeout, -m, kernel)
     address without a zone           45 the source could not be used: interface, address,
   6 could not resolve the host          port, 4-tuple or range taken, UDP conflict check
   7 failed to connect (refused,      52 the server closed without replying
     unreachable, ...)                55 send failure
   8 malformed HTTP response          56 receive failure
  18 body shorter than announced
)";
}

}  // namespace cxcli
