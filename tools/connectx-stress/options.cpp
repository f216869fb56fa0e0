// options.cpp - command-line parsing and validation, with the scale-mode presets.
#include "options.hpp"

#include <getopt.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <string_view>

namespace cxstress {
namespace {

constexpr uint16_t kDefaultLo = 32768;  // the kernel's default range starts here
constexpr uint32_t kDefaultPorts = 64;
constexpr uint32_t kKernelDefaultPorts = 28232;  // 32768-60999
constexpr uint16_t kMinPort = 1024;              // below: privileged ports and the servers
constexpr int kMaxDestinations = 4096;
// Scale mode: one source IP and the kernel's default range; enough destinations that the
// targets sit well below capacity (40 x 28,232 = 1,129,280), so port searches stay cheap; one
// destination filled after the other, so a program's per-destination state stays warm (the
// steady state of connecting, not the cost of rotating over many destinations).
constexpr int kScaleDestinations = 40;
constexpr uint64_t kScaleUdpCount = 1000000;
constexpr uint64_t kScaleTcpCount = 250000;
constexpr int kScaleTimeout = 900;

enum long_only : int { opt_timeout = 256, opt_no_progress, opt_fill, opt_plot, opt_csv };
constexpr int kMaxSources = 256;

const option kLongOptions[] = {
    {"ports", required_argument, nullptr, 'p'},
    {"destinations", required_argument, nullptr, 'd'},
    {"sources", required_argument, nullptr, 'S'},
    {"techniques", required_argument, nullptr, 't'},
    {"count", required_argument, nullptr, 'n'},
    {"ipv6", no_argument, nullptr, '6'},
    {"json", no_argument, nullptr, 'j'},
    {"scale", no_argument, nullptr, 's'},
    {"timeout", required_argument, nullptr, opt_timeout},
    {"fill", required_argument, nullptr, opt_fill},
    {"no-progress", no_argument, nullptr, opt_no_progress},
    {"plot", required_argument, nullptr, opt_plot},
    {"csv", no_argument, nullptr, opt_csv},
    {"help", no_argument, nullptr, 'h'},
    {"version", no_argument, nullptr, 'V'},
    {nullptr, 0, nullptr, 0},
};

template <class T>
bool parse_number(std::string_view s, T& out) {
    if (s.empty()) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
}

// "N" (N ports from 32768) or "LO-HI" (inclusive).
bool parse_ports(std::string_view s, config& cfg, std::string& error) {
    uint32_t lo = 0, hi = 0;
    size_t dash = s.find('-');
    if (dash == std::string_view::npos) {
        uint32_t n = 0;
        if (!parse_number(s, n) || n < 2 || n > 65536 - kDefaultLo) {
            error = "--ports: want a number of ports from 2 to 32768, or LO-HI";
            return false;
        }
        lo = kDefaultLo;
        hi = lo + n - 1;
    } else if (!parse_number(s.substr(0, dash), lo) || !parse_number(s.substr(dash + 1), hi) ||
               lo < kMinPort || hi > 65535 || lo >= hi) {
        error = "--ports: want LO-HI with 1024 <= LO < HI <= 65535";
        return false;
    }
    if ((hi - lo + 1) % 2 != 0) {
        // TCP connect() prefers ports of one parity and, with an odd-sized range, never picks
        // the top port: the counts would be off by one for reasons that are not the point.
        error = "--ports: the range must hold an even number of ports";
        return false;
    }
    cfg.port_lo = uint16_t(lo);
    cfg.port_hi = uint16_t(hi);
    return true;
}

bool parse_techniques(std::string_view list, config& cfg, std::string& error) {
    cfg.techniques.clear();
    while (!list.empty()) {
        size_t comma = list.find(',');
        std::string_view name = list.substr(0, comma);
        list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
        bool group = name == "all" || name == "tcp" || name == "udp";
        for (const auto& t : all_techniques()) {
            bool in = group ? (name == "all" || (name == "tcp") == (t.protocol == proto::tcp))
                            : name == t.name;
            bool seen = std::find(cfg.techniques.begin(), cfg.techniques.end(), t.id) !=
                        cfg.techniques.end();
            if (in && !seen) cfg.techniques.push_back(t.id);
        }
        if (!group && !find_technique(name)) {
            error = "--techniques: unknown technique '" + std::string(name) + "'";
            return false;
        }
    }
    if (cfg.techniques.empty()) {
        error = "--techniques: empty list";
        return false;
    }
    return true;
}

}  // namespace

const char* usage_text() noexcept {
    return "usage: connectx-stress [options]\n"
           "Exhausts local port ranges on purpose, in private network namespaces, and shows how\n"
           "many concurrent connections each technique reaches from one source IP.\n"
           "\n"
           "  -p, --ports N|LO-HI      local port range: N ports from 32768, or LO-HI; even\n"
           "                           size (default 64; the kernel's default is 28232)\n"
           "  -d, --destinations N     destination addresses, 1 to 4096 (default 4)\n"
           "  -S, --sources N          source addresses, 1 to 256 (default 1): the connectx\n"
           "                           rows connect from a pool of N addresses on lo\n"
           "                           (127.0.0.1 to 127.0.0.N), the others from the first\n"
           "  -t, --techniques LIST    comma list of techniques, or tcp, udp, all (default all):\n"
           "                           tcp-connect tcp-bind tcp-no-port tcp-reuseaddr\n"
           "                           tcp-connectx udp-connect udp-reuseaddr udp-connectx\n"
           "                           udp-connectx-guard udp-dropin\n"
           "  -n, --count N            stop each technique after N connections (default: at the\n"
           "                           first failure, or one past ports x destinations x sources)\n"
           "  -6, --ipv6               IPv6 (2001:db8::1 to 2001:db8::1:N) instead of IPv4\n"
           "                           (127.0.0.1 to 127.0.1.N)\n"
           "  -j, --json               machine-readable output (schema connectx-stress/1)\n"
           "      --csv                one CSV row per technique instead of the table\n"
           "      --plot FILE.svg      also draw connections against time and cost per\n"
           "                           connect against occupancy, one line per technique\n"
           "  -s, --scale              scale mode: udp-connectx to 1,000,000 and tcp-connectx\n"
           "                           to 250,000 connections, ports 32768-60999, 40\n"
           "                           destinations, sequential fill, with rate, memory and\n"
           "                           time columns\n"
           "      --fill ORDER         round-robin (default: connection k to destination\n"
           "                           k mod N) or sequential (one destination after the other)\n"
           "      --timeout S          seconds each technique may spend opening connections\n"
           "                           (default 60; 900 in scale mode)\n"
           "      --no-progress        no progress line (shown only on a terminal anyway)\n"
           "  -h, --help               this text\n"
           "  -V, --version            the version\n"
           "\n"
           "Needs root, or unprivileged user namespaces. The host's namespace is never changed.\n";
}

parse_outcome parse_options(int argc, char** argv, config& cfg, std::string& error) {
    cfg = config{};
    cfg.port_hi = uint16_t(kDefaultLo + kDefaultPorts - 1);
    bool ports_given = false, dst_given = false, tech_given = false, count_given = false;
    bool timeout_given = false, fill_given = false;
    std::string techniques;
    optind = 1;
    opterr = 0;  // our own messages
    int c;
    while ((c = getopt_long(argc, argv, ":p:d:S:t:n:6jshV", kLongOptions, nullptr)) != -1) {
        switch (c) {
            case 'p':
                if (!parse_ports(optarg, cfg, error)) return parse_outcome::error;
                ports_given = true;
                break;
            case 'd':
                if (!parse_number(std::string_view(optarg), cfg.destinations) ||
                    cfg.destinations < 1 || cfg.destinations > kMaxDestinations) {
                    error = "--destinations: want a number from 1 to 4096";
                    return parse_outcome::error;
                }
                dst_given = true;
                break;
            case 'S':
                if (!parse_number(std::string_view(optarg), cfg.sources) || cfg.sources < 1 ||
                    cfg.sources > kMaxSources) {
                    error = "--sources: want a number from 1 to 256";
                    return parse_outcome::error;
                }
                break;
            case 't':
                techniques = optarg;
                tech_given = true;
                break;
            case 'n': {
                uint64_t n = 0;
                if (!parse_number(std::string_view(optarg), n) || n == 0) {
                    error = "--count: want a positive number";
                    return parse_outcome::error;
                }
                cfg.count_tcp = cfg.count_udp = n;
                count_given = true;
                break;
            }
            case '6':
                cfg.family = AF_INET6;
                break;
            case 'j':
                cfg.json = true;
                break;
            case 's':
                cfg.scale = true;
                break;
            case opt_timeout:
                if (!parse_number(std::string_view(optarg), cfg.timeout_s) || cfg.timeout_s < 1 ||
                    cfg.timeout_s > 86400) {
                    error = "--timeout: want seconds from 1 to 86400";
                    return parse_outcome::error;
                }
                timeout_given = true;
                break;
            case opt_no_progress:
                cfg.progress = false;
                break;
            case opt_csv:
                cfg.csv = true;
                break;
            case opt_plot:
                if (!*optarg) {
                    error = "--plot: want a file name";
                    return parse_outcome::error;
                }
                cfg.plot = optarg;
                break;
            case opt_fill:
                if (std::string_view(optarg) == "round-robin") {
                    cfg.fill = fill_order::round_robin;
                } else if (std::string_view(optarg) == "sequential") {
                    cfg.fill = fill_order::sequential;
                } else {
                    error = "--fill: want round-robin or sequential";
                    return parse_outcome::error;
                }
                fill_given = true;
                break;
            case 'h':
                return parse_outcome::help;
            case 'V':
                return parse_outcome::version;
            case ':':
                error = std::string("option ") + argv[optind - 1] + " needs a value";
                return parse_outcome::error;
            default:
                error = std::string("unknown option ") + argv[optind - 1];
                return parse_outcome::error;
        }
    }
    if (optind < argc) {
        error = std::string("unexpected argument '") + argv[optind] + "'";
        return parse_outcome::error;
    }
    if (cfg.scale) {
        if (!ports_given) {
            cfg.port_lo = kDefaultLo;
            cfg.port_hi = uint16_t(kDefaultLo + kKernelDefaultPorts - 1);
        }
        if (!dst_given) cfg.destinations = kScaleDestinations;
        if (!tech_given) techniques = "udp-connectx,tcp-connectx";
        if (!count_given) {
            cfg.count_udp = kScaleUdpCount;
            cfg.count_tcp = kScaleTcpCount;
        }
        if (!timeout_given) cfg.timeout_s = kScaleTimeout;
        if (!fill_given) cfg.fill = fill_order::sequential;
    }
    if (cfg.csv && cfg.json) {
        error = "--csv and --json: choose one";
        return parse_outcome::error;
    }
    if (tech_given && techniques.empty()) {
        error = "--techniques: empty list";
        return parse_outcome::error;
    }
    if (!parse_techniques(techniques.empty() ? "all" : techniques, cfg, error))
        return parse_outcome::error;
    return parse_outcome::run;
}

}  // namespace cxstress
