// connectx-guard(8): attach|detach|status of the BPF guard on a cgroup v2 directory. Attach
// without --pin holds the guard in the foreground until SIGINT/SIGTERM/SIGHUP (run it under
// the service manager); with --pin it pins the links in bpffs and returns.
#include <connectx/guard.h>
#include <getopt.h>
#include <signal.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

// Exit statuses (connectx-guard(8), EXIT STATUS).
constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitNotAttached = 3;  // status: the guard is not (fully) attached

constexpr const char* kUsage =
    "usage: connectx-guard attach --cgroup PATH [--pin DIR] [--no-mount] [--force-root] [--json]\n"
    "       connectx-guard detach --cgroup PATH [--pin DIR] [--json]\n"
    "       connectx-guard status --cgroup PATH [--pin DIR] [--json]\n"
    "\n"
    "Makes the kernel refuse (EPERM) a UDP connect() onto a 4-tuple another connected socket\n"
    "holds, for every process in a cgroup v2 directory. See connectx-guard(8).\n"
    "\n"
    "  --cgroup PATH  the cgroup v2 directory (e.g. /sys/fs/cgroup/system.slice/x.service)\n"
    "  --pin DIR      pin the guard in this bpffs directory so it outlives this command;\n"
    "                 without it, attach holds the guard until SIGINT/SIGTERM/SIGHUP\n"
    "  --no-mount     do not mount bpffs on DIR when it is not one\n"
    "  --force-root   allow the root cgroup (every process of the host)\n"
    "  --json         one JSON object on stdout\n";

struct args {
    enum { none, attach, detach, status } command = none;
    const char* cgroup = nullptr;
    const char* pin = nullptr;
    bool no_mount = false;
    bool force_root = false;
    bool json = false;
};

int usage_error(const char* what) {
    std::fprintf(stderr, "connectx-guard: %s\n%s", what, kUsage);
    return kExitUsage;
}

// Parses argv into `a`; returns -1 to go on, else the exit status. Options may come before or
// after the command.
int parse(int argc, char** argv, args& a) {
    enum { kCgroup = 1, kPin, kNoMount, kForceRoot, kJson };
    static const option longopts[] = {
        {"cgroup", required_argument, nullptr, kCgroup},
        {"pin", required_argument, nullptr, kPin},
        {"no-mount", no_argument, nullptr, kNoMount},
        {"force-root", no_argument, nullptr, kForceRoot},
        {"json", no_argument, nullptr, kJson},
        {"help", no_argument, nullptr, 'h'},
        {nullptr, 0, nullptr, 0},
    };
    opterr = 0;
    // "+": stop at the command word, then resume after it.
    auto options = [&]() -> int {
        for (int c; (c = getopt_long(argc, argv, "+h", longopts, nullptr)) != -1;) {
            switch (c) {
                case kCgroup:
                    a.cgroup = optarg;
                    break;
                case kPin:
                    a.pin = optarg;
                    break;
                case kNoMount:
                    a.no_mount = true;
                    break;
                case kForceRoot:
                    a.force_root = true;
                    break;
                case kJson:
                    a.json = true;
                    break;
                case 'h':
                    std::fputs(kUsage, stdout);
                    return kExitOk;
                default:
                    return usage_error("unknown option or missing argument");
            }
        }
        return -1;
    };
    if (int rc = options(); rc >= 0) return rc;
    if (optind >= argc) return usage_error("missing command");
    std::string cmd = argv[optind++];
    if (int rc = options(); rc >= 0) return rc;
    if (optind < argc) return usage_error("unexpected argument");
    if (cmd == "attach")
        a.command = args::attach;
    else if (cmd == "detach")
        a.command = args::detach;
    else if (cmd == "status")
        a.command = args::status;
    else
        return usage_error("unknown command (attach, detach or status)");
    if (!a.cgroup || !*a.cgroup) return usage_error("--cgroup PATH is required");
    if (a.command != args::attach && (a.no_mount || a.force_root))
        return usage_error("--no-mount and --force-root apply to attach only");
    return -1;
}

// A JSON string literal (the path may hold any byte but NUL).
std::string json_string(const char* s) {
    std::string out = "\"";
    for (const char* p = s; *p; ++p) {
        unsigned char ch = static_cast<unsigned char>(*p);
        if (ch == '"' || ch == '\\') {
            out += '\\';
            out += static_cast<char>(ch);
        } else if (ch < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", ch);
            out += buf;
        } else {
            out += static_cast<char>(ch);
        }
    }
    return out + "\"";
}

// The operator's message for a failed call: errno text plus what it means here.
int fail(const args& a, const char* verb) {
    int e = errno;
    const char* hint = "";
    switch (e) {
        case ENOTSUP:
            hint = " (libconnectx was built without the BPF guard)";
            break;
        case EMEDIUMTYPE:
            hint = " (--cgroup must be a cgroup v2 directory; --pin a bpffs directory)";
            break;
        case EPERM:
            hint = a.command == args::attach
                       ? " (the root cgroup needs --force-root; else run as root / with CAP_BPF "
                         "and CAP_NET_ADMIN)"
                       : " (needs root / CAP_BPF and CAP_SYS_ADMIN)";
            break;
        case EEXIST:
            hint = " (a stale pin: run detach with the same --pin first)";
            break;
        default:
            break;
    }
    std::fprintf(stderr, "connectx-guard: %s %s: %s%s\n", verb, a.cgroup, std::strerror(e), hint);
    return kExitError;
}

connectx_guard_opts make_opts(const args& a) {
    connectx_guard_opts o{};
    o.size = sizeof o;
    o.pin_dir = a.pin;
    if (a.force_root) o.flags |= CONNECTX_GUARD_F_FORCE_ROOT;
    if (a.pin && !a.no_mount) o.flags |= CONNECTX_GUARD_F_MOUNT_BPFFS;
    return o;
}

// `result` is a token for --json; `text` the words for people.
void report(const args& a, const char* verb, const char* result, const char* text) {
    if (a.json)
        std::printf("{\"command\":\"%s\",\"cgroup\":%s,\"result\":\"%s\",\"pin\":%s}\n", verb,
                    json_string(a.cgroup).c_str(), result,
                    a.pin ? json_string(a.pin).c_str() : "null");
    else
        std::printf("%s: %s\n", a.cgroup, text);
    std::fflush(stdout);  // before holding: a supervisor may be waiting for this line
}

// Blocks until SIGINT, SIGTERM or SIGHUP; the caller then releases the guard.
void hold_until_signal() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    int sig = 0;
    while (sigwait(&set, &sig) != 0) {
    }
}

int do_attach(const args& a) {
    connectx_guard_opts o = make_opts(a);
    connectx_guard* g = nullptr;
    int rc = connectx_guard_attach(a.cgroup, &o, a.pin ? nullptr : &g);
    if (rc < 0) return fail(a, "attach");
    if (rc == 0) {
        report(
            a, "attach", "already-attached",
            a.pin ? "already attached" : "already attached (by another holder; nothing to hold)");
        return kExitOk;
    }
    if (a.pin) {
        report(a, "attach", "attached", "attached and pinned");
        return kExitOk;
    }
    report(a, "attach", "attached", "attached; holding it until SIGINT, SIGTERM or SIGHUP");
    hold_until_signal();
    connectx_guard_close(g);  // the unpinned links detach here
    return kExitOk;
}

int do_detach(const args& a) {
    connectx_guard_opts o = make_opts(a);
    int rc = connectx_guard_detach(a.cgroup, &o);
    if (rc < 0) return fail(a, "detach");
    report(a, "detach", rc == 1 ? "detached" : "not-attached",
           rc == 1 ? "detached" : "was not attached");
    return kExitOk;
}

int do_status(const args& a) {
    connectx_guard_opts o = make_opts(a);
    connectx_guard_info s{};
    s.size = sizeof s;
    if (connectx_guard_status(a.cgroup, &o, &s) < 0) return fail(a, "status");
    const uint32_t both = CONNECTX_GUARD_CONNECT4 | CONNECTX_GUARD_CONNECT6;
    auto yes = [](uint32_t bits, uint32_t bit) { return (bits & bit) ? "true" : "false"; };
    // Whether a link is pinned is known only for the --pin directory asked about.
    auto pinned = [&](uint32_t bit) { return a.pin ? yes(s.pinned, bit) : "null"; };
    if (a.json) {
        std::printf(
            "{\"cgroup\":%s,\"attached\":%s,"
            "\"connect4\":{\"attached\":%s,\"prog_id\":%u,\"pinned\":%s},"
            "\"connect6\":{\"attached\":%s,\"prog_id\":%u,\"pinned\":%s},"
            "\"checked\":%llu,\"refused\":%llu,\"skipped\":%llu}\n",
            json_string(a.cgroup).c_str(), s.attached == both ? "true" : "false",
            yes(s.attached, CONNECTX_GUARD_CONNECT4), s.prog_id4, pinned(CONNECTX_GUARD_CONNECT4),
            yes(s.attached, CONNECTX_GUARD_CONNECT6), s.prog_id6, pinned(CONNECTX_GUARD_CONNECT6),
            static_cast<unsigned long long>(s.checked), static_cast<unsigned long long>(s.refused),
            static_cast<unsigned long long>(s.skipped));
    } else {
        std::printf("cgroup:   %s\n", a.cgroup);
        std::printf("attached: %s\n", s.attached == both ? "yes" : s.attached ? "partly" : "no");
        std::printf("connect4: %s", yes(s.attached, CONNECTX_GUARD_CONNECT4));
        if (s.prog_id4) std::printf(" (prog id %u)", s.prog_id4);
        std::printf("%s\n",
                    a.pin ? (s.pinned & CONNECTX_GUARD_CONNECT4 ? " pinned" : " not pinned") : "");
        std::printf("connect6: %s", yes(s.attached, CONNECTX_GUARD_CONNECT6));
        if (s.prog_id6) std::printf(" (prog id %u)", s.prog_id6);
        std::printf("%s\n",
                    a.pin ? (s.pinned & CONNECTX_GUARD_CONNECT6 ? " pinned" : " not pinned") : "");
        std::printf("checked:  %llu\nrefused:  %llu\nskipped:  %llu\n",
                    static_cast<unsigned long long>(s.checked),
                    static_cast<unsigned long long>(s.refused),
                    static_cast<unsigned long long>(s.skipped));
    }
    return s.attached == both ? kExitOk : kExitNotAttached;
}

}  // namespace

int main(int argc, char** argv) {
    args a;
    if (int rc = parse(argc, argv, a); rc >= 0) return rc;
    switch (a.command) {
        case args::attach:
            return do_attach(a);
        case args::detach:
            return do_detach(a);
        case args::status:
            return do_status(a);
        case args::none:
            break;
    }
    return kExitUsage;
}
