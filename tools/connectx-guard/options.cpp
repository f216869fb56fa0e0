// options.cpp - connectx-guard's command line: every error names the word it is about.
#include "options.hpp"

#include <getopt.h>

#include <cstring>
#include <string_view>

namespace cxguard {
namespace {

enum long_only : int { opt_cgroup = 256, opt_pin, opt_no_mount, opt_force_root };

const option kLongOptions[] = {
    {"cgroup", required_argument, nullptr, opt_cgroup},
    {"pin", required_argument, nullptr, opt_pin},
    {"no-mount", no_argument, nullptr, opt_no_mount},
    {"force-root", no_argument, nullptr, opt_force_root},
    {"json", no_argument, nullptr, 'j'},
    {"pretty", no_argument, nullptr, 'p'},
    {"help", no_argument, nullptr, 'h'},
    {"version", no_argument, nullptr, 'V'},
    {nullptr, 0, nullptr, 0},
};

// "+": stop at the command word (options may follow it: parsing resumes after it);
// ":": a missing argument is told apart from an unknown option.
constexpr const char* kShortOptions = "+:jphV";

bool parse_command(std::string_view word, command& out) {
    for (command c : {command::attach, command::detach, command::status})
        if (word == to_string(c)) {
            out = c;
            return true;
        }
    return false;
}

// The word getopt stopped at, for messages: "--cgroup" or "-x".
std::string offending(char** argv, int at) {
    std::string w = argv[at];
    if (size_t eq = w.find('='); w.rfind("--", 0) == 0 && eq != std::string::npos) w.resize(eq);
    return w;
}

// One run of getopt over argv from optind; returns run to go on.
parse_outcome options(int argc, char** argv, args& a, std::string& error) {
    for (int c; (c = getopt_long(argc, argv, kShortOptions, kLongOptions, nullptr)) != -1;) {
        switch (c) {
            case opt_cgroup:
                a.cgroup = optarg;
                break;
            case opt_pin:
                a.pin = optarg;
                break;
            case opt_no_mount:
                a.no_mount = true;
                break;
            case opt_force_root:
                a.force_root = true;
                break;
            case 'j':
                a.json = true;
                break;
            case 'p':
                a.json = a.pretty = true;
                break;
            case 'h':
                return parse_outcome::help;
            case 'V':
                return parse_outcome::version;
            case ':':
                error = "option '" + offending(argv, optind - 1) + "' needs an argument";
                return parse_outcome::error;
            default:
                error = optopt ? std::string("unknown option '-") + char(optopt) + "'"
                               : "unknown option '" + offending(argv, optind - 1) + "'";
                return parse_outcome::error;
        }
    }
    return parse_outcome::run;
}

// -j/--json/-p/--pretty anywhere before "--": errors found earlier are then JSON as well.
void find_json_flags(int argc, char** argv, args& a) {
    for (int i = 1; i < argc && std::strcmp(argv[i], "--") != 0; ++i) {
        std::string_view w = argv[i];
        if (w == "--pretty" || w == "-p") a.json = a.pretty = true;
        if (w == "--json" || w == "-j") a.json = true;
    }
}

}  // namespace

const char* to_string(command c) noexcept {
    switch (c) {
        case command::attach:
            return "attach";
        case command::detach:
            return "detach";
        case command::status:
            return "status";
        case command::none:
            break;
    }
    return "none";
}

const char* usage_text() noexcept {
    return "usage: connectx-guard attach --cgroup PATH [--pin DIR] [--no-mount] [--force-root]\n"
           "       connectx-guard detach --cgroup PATH [--pin DIR]\n"
           "       connectx-guard status --cgroup PATH [--pin DIR]\n"
           "       connectx-guard --help | --version\n"
           "\n"
           "Makes the kernel refuse (EPERM) a UDP connect() onto a 4-tuple another connected\n"
           "socket holds, for every process in a cgroup v2 directory. See connectx-guard(8).\n"
           "\n"
           "  --cgroup PATH   the cgroup v2 directory (e.g. "
           "/sys/fs/cgroup/system.slice/x.service)\n"
           "  --pin DIR       pin the guard in DIR so it outlives this command; attach creates\n"
           "                  DIR if missing and mounts bpffs on it if it is not bpffs; without\n"
           "                  --pin, attach holds the guard until SIGINT, SIGTERM or SIGHUP\n"
           "  --no-mount      attach: fail when DIR is not bpffs instead of mounting it there\n"
           "  --force-root    attach: allow the root cgroup (every process of the host)\n"
           "  -j, --json      one JSON object on stdout, errors included ({\"error\": ...})\n"
           "  -p, --pretty    indented JSON (implies --json)\n"
           "  -h, --help      this text\n"
           "  -V, --version   the version\n"
           "\n"
           "Exit status: 0 done; 1 failed; 2 usage error; 3 status: the guard is not attached.\n";
}

parse_outcome parse_args(int argc, char** argv, args& a, std::string& error) {
    a = args{};
    find_json_flags(argc, argv, a);
    optind = 1;
    opterr = 0;  // our own messages
    if (parse_outcome o = options(argc, argv, a, error); o != parse_outcome::run) return o;
    if (optind >= argc) {
        error = "missing command (attach, detach or status)";
        return parse_outcome::error;
    }
    const char* word = argv[optind++];
    if (!parse_command(word, a.cmd)) {
        error = std::string("unknown command '") + word + "' (attach, detach or status)";
        return parse_outcome::error;
    }
    if (parse_outcome o = options(argc, argv, a, error); o != parse_outcome::run) return o;
    if (optind < argc) {
        error = std::string("unexpected argument '") + argv[optind] + "'";
        return parse_outcome::error;
    }
    if (!a.cgroup || !*a.cgroup) {
        error = std::string(to_string(a.cmd)) + " needs --cgroup PATH";
        return parse_outcome::error;
    }
    if (a.pin && !*a.pin) {
        error = "option '--pin' needs a directory, not an empty word";
        return parse_outcome::error;
    }
    if (a.cmd != command::attach && (a.no_mount || a.force_root)) {
        error = std::string("option '") + (a.no_mount ? "--no-mount" : "--force-root") +
                "' applies to attach only";
        return parse_outcome::error;
    }
    return parse_outcome::run;
}

}  // namespace cxguard
