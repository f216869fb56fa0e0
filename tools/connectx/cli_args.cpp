// cli_args.cpp - command-line parsing with getopt_long: curl's option spellings (short options
// bundle, "-XPOST" and "-X POST", "--name value" and "--name=value"), checked for form only.
#include "cli_args.hpp"

#include <getopt.h>
#include <sys/socket.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace cxcli {
namespace {

// Long-only options get ids above the char range.
enum long_only : int {
    opt_connect_timeout = 256,
    opt_interface,
    opt_local_port,
    opt_source,
    opt_idle_timeout,
    opt_data_binary,
    opt_data_raw,
    opt_data_urlencode,
    opt_json,
    opt_cacert,
    opt_capath,
    opt_resolve,
    opt_connect_to,
    opt_noproxy,
    opt_compressed,
    opt_max_redirs,
    opt_retry,
    opt_retry_delay,
    opt_retry_max_time,
    opt_retry_connrefused,
    opt_http1_0,
    opt_http1_1,
    opt_http2,
    opt_http2_prior,
    opt_url,
};

// The short options in getopt's notation; ':' first so a missing value is told from an
// unknown option.
constexpr const char* kShortOptions = ":46A:b:c:D:d:e:F:fGhH:iIkLm:o:Ou:sST:vVw:x:X:";

const option kLongOptions[] = {
    {"ipv4", no_argument, nullptr, '4'},
    {"ipv6", no_argument, nullptr, '6'},
    {"user-agent", required_argument, nullptr, 'A'},
    {"cookie", required_argument, nullptr, 'b'},
    {"cookie-jar", required_argument, nullptr, 'c'},
    {"dump-header", required_argument, nullptr, 'D'},
    {"data", required_argument, nullptr, 'd'},
    {"data-ascii", required_argument, nullptr, 'd'},
    {"data-binary", required_argument, nullptr, opt_data_binary},
    {"data-raw", required_argument, nullptr, opt_data_raw},
    {"data-urlencode", required_argument, nullptr, opt_data_urlencode},
    {"json", required_argument, nullptr, opt_json},
    {"referer", required_argument, nullptr, 'e'},
    {"form", required_argument, nullptr, 'F'},
    {"fail", no_argument, nullptr, 'f'},
    {"get", no_argument, nullptr, 'G'},
    {"help", no_argument, nullptr, 'h'},
    {"header", required_argument, nullptr, 'H'},
    {"include", no_argument, nullptr, 'i'},
    {"head", no_argument, nullptr, 'I'},
    {"insecure", no_argument, nullptr, 'k'},
    {"location", no_argument, nullptr, 'L'},
    {"max-redirs", required_argument, nullptr, opt_max_redirs},
    {"max-time", required_argument, nullptr, 'm'},
    {"output", required_argument, nullptr, 'o'},
    {"remote-name", no_argument, nullptr, 'O'},
    {"user", required_argument, nullptr, 'u'},
    {"silent", no_argument, nullptr, 's'},
    {"show-error", no_argument, nullptr, 'S'},
    {"upload-file", required_argument, nullptr, 'T'},
    {"verbose", no_argument, nullptr, 'v'},
    {"version", no_argument, nullptr, 'V'},
    {"write-out", required_argument, nullptr, 'w'},
    {"proxy", required_argument, nullptr, 'x'},
    {"noproxy", required_argument, nullptr, opt_noproxy},
    {"request", required_argument, nullptr, 'X'},
    {"connect-timeout", required_argument, nullptr, opt_connect_timeout},
    {"interface", required_argument, nullptr, opt_interface},
    {"local-port", required_argument, nullptr, opt_local_port},
    {"source", required_argument, nullptr, opt_source},
    {"idle-timeout", required_argument, nullptr, opt_idle_timeout},
    {"cacert", required_argument, nullptr, opt_cacert},
    {"capath", required_argument, nullptr, opt_capath},
    {"resolve", required_argument, nullptr, opt_resolve},
    {"connect-to", required_argument, nullptr, opt_connect_to},
    {"compressed", no_argument, nullptr, opt_compressed},
    {"retry", required_argument, nullptr, opt_retry},
    {"retry-delay", required_argument, nullptr, opt_retry_delay},
    {"retry-max-time", required_argument, nullptr, opt_retry_max_time},
    {"retry-connrefused", no_argument, nullptr, opt_retry_connrefused},
    {"http1.0", no_argument, nullptr, opt_http1_0},
    {"http1.1", no_argument, nullptr, opt_http1_1},
    {"http2", no_argument, nullptr, opt_http2},
    {"http2-prior-knowledge", no_argument, nullptr, opt_http2_prior},
    {"url", required_argument, nullptr, opt_url},
    {nullptr, 0, nullptr, 0},
};

// "-o" or "--output" for messages: the spelling of option `id`.
std::string spelling(int id) {
    for (const option* o = kLongOptions; o->name; ++o)
        if (o->val == id)
            return id < 256 ? std::string("-") + char(id) : std::string("--") + o->name;
    return "?";
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

std::optional<long> parse_count(const std::string& s, long max) {
    if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos)
        return std::nullopt;
    long v = std::strtol(s.c_str(), nullptr, 10);
    if (v > max) return std::nullopt;
    return v;
}

data_kind data_kind_of(int id) {
    switch (id) {
        case opt_data_binary:
            return data_kind::binary;
        case opt_data_raw:
            return data_kind::raw;
        case opt_data_urlencode:
            return data_kind::urlencode;
        case opt_json:
            return data_kind::json;
    }
    return data_kind::ascii;  // -d, --data, --data-ascii
}

// Source IPs as each option gave them, reconciled once the whole line is read.
struct source_ips {
    std::optional<cx::address> from_source;     // --source
    std::optional<cx::address> from_interface;  // --interface IP
};

struct parser {
    cli_args& a;
    source_ips ips;

    std::string seconds(int id, const char* v, double& out) {
        auto s = parse_seconds(v);
        if (!s) return "option " + spelling(id) + ": expected a number of seconds";
        out = *s;
        return {};
    }
    std::string source(const char* v);
    std::string interface(const std::string& v);
    std::optional<std::string> network(int id, const char* v);  // nullopt: not a network option
    std::string request(int id, const char* v);
    std::string apply(int id, const char* v);
};

std::string parser::source(const char* v) {
    if (std::strchr(v, '/')) {
        auto p = cx::prefix::parse(v);
        if (!p)
            return std::string("option --source: expected IP/LEN with the host bits zero: ") + v;
        a.source_pool = *p;
        ips.from_source.reset();
        a.source_port = 0;
        return {};
    }
    a.source_pool.reset();
    auto addr = cx::address::parse(v);
    if (!addr || addr->is_wildcard()) return "option --source: expected a numeric IP[:PORT]";
    a.source_port = addr->port();
    addr->set_port(0);
    ips.from_source = *addr;
    return {};
}

std::string parser::interface(const std::string& v) {
    if (v.empty()) return "option --interface: expected an interface name or IP address";
    // A numeric address is a source IP; anything else names an interface.
    if (auto addr = cx::address::parse(v); addr && addr->port() == 0) {
        if (addr->is_wildcard()) return "option --interface: a wildcard address is not a source";
        a.interface_name.clear();
        ips.from_interface = *addr;
    } else {
        a.interface_name = v;
        ips.from_interface.reset();
    }
    return {};
}

// Options about the connection and its source.
std::optional<std::string> parser::network(int id, const char* v) {
    switch (id) {
        case '4':
            a.family = AF_INET;
            break;
        case '6':
            a.family = AF_INET6;
            break;
        case 'k':
            a.insecure = true;
            break;
        case 'x':
            a.proxy = v;
            break;
        case opt_noproxy:
            a.noproxy = v;
            break;
        case opt_cacert:
            a.cacert = v;
            break;
        case opt_capath:
            a.capath = v;
            break;
        case opt_resolve:
            a.resolve.push_back(v);
            break;
        case opt_connect_to:
            a.connect_to.push_back(v);
            break;
        case opt_source:
            return source(v);
        case opt_interface:
            return interface(v);
        case opt_local_port: {
            a.local_port = parse_port_span(v);
            if (!a.local_port)
                return "option --local-port: expected a port 1-65535 or a range N-M with N <= M";
            break;
        }
        case 'm':
            return seconds(id, v, a.max_time);
        case opt_connect_timeout:
            return seconds(id, v, a.connect_timeout);
        case opt_retry_delay:
            return seconds(id, v, a.retry_delay);
        case opt_retry_max_time:
            return seconds(id, v, a.retry_max_time);
        case opt_idle_timeout: {
            double s = 0;
            if (auto e = seconds(id, v, s); !e.empty()) return e;
            a.idle_timeout = s;
            break;
        }
        case opt_retry: {
            auto n = parse_count(v, 1000000);
            if (!n) return "option --retry: expected a number of retries";
            a.retry = *n;
            break;
        }
        case opt_retry_connrefused:
            a.retry_connrefused = true;
            break;
        default:
            return std::nullopt;
    }
    return std::string();
}

// Options about the request and the response.
std::string parser::request(int id, const char* v) {
    switch (id) {
        case 'A':
            a.user_agent = v;
            break;
        case 'b':
            a.cookie = v;
            break;
        case 'c':
            a.cookie_jar = v;
            break;
        case 'D':
            a.dump_header = v;
            break;
        case 'd':
        case opt_data_binary:
        case opt_data_raw:
        case opt_data_urlencode:
        case opt_json:
            a.data.push_back({data_kind_of(id), v});
            break;
        case 'e':
            a.referer = v;
            break;
        case 'F':
            if (std::string_view(v).find('=') == std::string_view::npos || v[0] == '=')
                return "option -F: expected name=content";
            a.form.push_back(v);
            break;
        case 'f':
            a.fail = true;
            break;
        case 'G':
            a.get = true;
            break;
        case 'H':
            if (std::string_view(v).find_first_of("\r\n") != std::string_view::npos)
                return "option -H: header contains CR/LF";
            if (std::string_view(v).find_first_of(":;") == std::string_view::npos)
                return "option -H: expected \"Name: value\"";
            a.headers.push_back(v);
            break;
        case 'i':
            a.include = true;
            break;
        case 'I':
            a.head = true;
            break;
        case 'L':
            a.location = true;
            break;
        case opt_max_redirs: {
            auto n =
                std::string_view(v) == "-1" ? std::optional<long>(-1) : parse_count(v, 1L << 30);
            if (!n) return "option --max-redirs: expected a number (-1: no limit)";
            a.max_redirs = *n;
            break;
        }
        case 'o':
            a.outputs.push_back({false, v});
            break;
        case 'O':
            a.outputs.push_back({true, {}});
            break;
        case 'u':
            a.user = v;
            break;
        case 'T':
            a.upload_file = v;
            break;
        case 'w':
            a.write_out = v;
            break;
        case 'X':
            if (!*v || std::string_view(v).find_first_of(" \t\r\n") != std::string_view::npos)
                return "option -X: expected a method name";
            a.method = v;
            break;
        case opt_compressed:
            a.compressed = true;
            break;
        case opt_http1_0:
            a.version = http_version::v1_0;
            break;
        case opt_http1_1:
            a.version = http_version::v1_1;
            break;
        case opt_http2:
            a.version = http_version::v2;
            break;
        case opt_http2_prior:
            a.version = http_version::v2_prior_knowledge;
            break;
        case opt_url:
            a.urls.push_back(v);
            break;
        case 's':
            a.silent = true;
            break;
        case 'S':
            a.show_error = true;
            break;
        case 'v':
            a.verbose = true;
            break;
        case 'V':
            a.version_asked = true;
            break;
        case 'h':
            a.help = true;
            break;
        default:
            return "internal: option " + std::to_string(id) + " has no handler";
    }
    return {};
}

// One option: the connection's kind first, then the request's.
std::string parser::apply(int id, const char* v) {
    if (auto e = network(id, v)) return *e;
    return request(id, v);
}

// Options that contradict each other. --interface IP and --source IP both set the source IP:
// letting one win silently would hide a typo, so they must agree.
std::string reconcile(cli_args& a, const source_ips& ips) {
    if (ips.from_source && ips.from_interface && *ips.from_source != *ips.from_interface)
        return "--interface IP and --source IP name different addresses";
    a.source_ip = ips.from_source ? ips.from_source : ips.from_interface;
    if (a.source_pool && a.source_ip)
        return "--source PREFIX and --interface IP both set the source address";
    if (a.source_pool && a.local_port && a.local_port->lo == a.local_port->hi)
        return "--source PREFIX takes a --local-port range, not one port";
    if (a.source_pool && a.family && a.source_pool->network.family() != a.family)
        return a.family == AF_INET ? "-4 given with an IPv6 source prefix"
                                   : "-6 given with an IPv4 source prefix";
    if (a.source_port != 0 && a.local_port)
        return "--source IP:PORT and --local-port both set the source port";
    if (a.source_ip && a.family && a.source_ip->family() != a.family)
        return a.family == AF_INET ? "-4 given with an IPv6 source address"
                                   : "-6 given with an IPv4 source address";
    if (a.head && !a.data.empty() && !a.get) return "-I (HEAD) and -d cannot be combined";
    if (!a.form.empty() && !a.data.empty()) return "-F and -d cannot be combined";
    return {};
}

// getopt's complaint in our words: which option, and what is wrong with it.
std::string getopt_error(int c, const std::vector<std::string>& argv) {
    std::string arg =
        optind > 0 && size_t(optind - 1) < argv.size() ? argv[size_t(optind - 1)] : "";
    bool is_long = arg.rfind("--", 0) == 0;
    if (c == ':') {
        if (is_long) return "option " + arg + ": requires a value";
        return std::string("option -") + char(optopt) + ": requires a value";
    }
    if (is_long && optopt) return "option " + arg.substr(0, arg.find('=')) + ": takes no value";
    if (optopt) return std::string("option -") + char(optopt) + ": is unknown";
    return "option " + arg.substr(0, arg.find('=')) + ": is unknown";
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
    std::vector<char*> ptrs;
    for (const auto& s : argv) ptrs.push_back(const_cast<char*>(s.c_str()));
    ptrs.push_back(nullptr);
    parser p{out.args, {}};
    optind = 0;  // 0, not 1: also resets getopt's state inside a bundle
    opterr = 0;  // our own messages
    int c;
    while ((c = getopt_long(int(argv.size()), ptrs.data(), kShortOptions, kLongOptions, nullptr)) !=
           -1) {
        if (c == '?' || c == ':') {
            out.error = getopt_error(c, argv);
            return out;
        }
        out.error = p.apply(c, optarg);
        if (!out.error.empty()) return out;
    }
    cli_args& a = out.args;
    for (int i = optind; i < int(argv.size()); ++i) a.urls.push_back(ptrs[size_t(i)]);
    if (a.help || a.version_asked) return out;
    if (a.urls.empty()) {
        out.error = "no URL specified";
        return out;
    }
    out.error = reconcile(a, p.ips);
    return out;
}

}  // namespace cxcli
