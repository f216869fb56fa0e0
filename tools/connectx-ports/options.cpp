// options.cpp - connectx-ports' command line (getopt_long).
#include "options.hpp"

#include <getopt.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace cxports {
namespace {

// A whole decimal number in [lo, hi], or false.
bool number(const char* text, long lo, long hi, long& out) {
    char* end = nullptr;
    errno = 0;
    long v = std::strtol(text, &end, 10);
    if (errno || end == text || *end || v < lo || v > hi) return false;
    out = v;
    return true;
}

}  // namespace

void print_usage(FILE* to) {
    std::fputs(
        "usage: connectx-ports [-u|-t] [-j|--prometheus] [-w SECONDS [-c COUNT]] [-n TOP]\n"
        "                      [--netns NAME] [-o FILE]\n"
        "The port budget per (source IP, destination): ports used toward each destination and\n"
        "those still free, most used first. See connectx-ports(8).\n"
        "  -u, --udp           UDP only            -t, --tcp          TCP only\n"
        "  -j, --json          JSON                    --prometheus   Prometheus text format\n"
        "  -w, --watch SEC     again every SEC s   -c, --count N      with --watch: N times\n"
        "  -n, --top N         the N most used pairs per protocol\n"
        "      --netns NAME    the namespace /run/netns/NAME (ip netns) instead of the caller's\n"
        "  -o, --output FILE   write FILE whole, then rename it into place (textfile collector)\n"
        "  -h, --help          this text           -V, --version      the version\n",
        to);
}

std::string parse_args(int argc, char** argv, args& out) {
    enum { kPrometheus = 256, kNetns };
    static const option longs[] = {{"udp", no_argument, nullptr, 'u'},
                                   {"tcp", no_argument, nullptr, 't'},
                                   {"json", no_argument, nullptr, 'j'},
                                   {"prometheus", no_argument, nullptr, kPrometheus},
                                   {"watch", required_argument, nullptr, 'w'},
                                   {"count", required_argument, nullptr, 'c'},
                                   {"top", required_argument, nullptr, 'n'},
                                   {"netns", required_argument, nullptr, kNetns},
                                   {"output", required_argument, nullptr, 'o'},
                                   {"help", no_argument, nullptr, 'h'},
                                   {"version", no_argument, nullptr, 'V'},
                                   {nullptr, 0, nullptr, 0}};
    opterr = 0;
    bool only_udp = false, only_tcp = false;
    long v = 0;
    for (int c; (c = getopt_long(argc, argv, ":utjw:c:n:o:hV", longs, nullptr)) != -1;) {
        switch (c) {
            case 'u':
                only_udp = true;
                break;
            case 't':
                only_tcp = true;
                break;
            case 'j':
                out.fmt = format::json;
                break;
            case kPrometheus:
                out.fmt = format::prometheus;
                break;
            case 'w':
                if (!number(optarg, 1, 86400, v))
                    return std::string("--watch: not a number of seconds in 1..86400: ") + optarg;
                out.watch_s = int(v);
                break;
            case 'c':
                if (!number(optarg, 1, 1000000000, out.count))
                    return std::string("--count: not a positive number: ") + optarg;
                break;
            case 'n':
                if (!number(optarg, 1, 1000000000, out.top))
                    return std::string("--top: not a positive number: ") + optarg;
                break;
            case kNetns:
                out.netns = optarg;
                if (out.netns.empty() || out.netns.find('/') != std::string::npos)
                    return "--netns: a name of /run/netns (no '/'): '" + out.netns + "'";
                break;
            case 'o':
                out.output = optarg;
                break;
            case 'h':
                out.help = true;
                break;
            case 'V':
                out.version = true;
                break;
            case ':':
                return std::string("option ") + argv[optind - 1] + " needs a value";
            default:
                return std::string("unknown option ") + argv[optind - 1];
        }
    }
    if (optind < argc) return std::string("unexpected argument ") + argv[optind];
    if (only_udp && only_tcp) return "-u and -t together: leave both out for both";
    if (only_udp) out.tcp = false;
    if (only_tcp) out.udp = false;
    if (out.count && !out.watch_s) return "--count needs --watch";
    return "";
}

}  // namespace cxports
