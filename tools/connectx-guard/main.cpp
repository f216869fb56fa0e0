// connectx-guard(8): attach|detach|status of the BPF guard on a cgroup v2 directory. Attach
// without --pin holds the guard in the foreground until SIGINT/SIGTERM/SIGHUP (run it under
// the service manager), or until someone else detaches it; with --pin it pins the links in
// bpffs and returns. Every error names the one object that failed.
#include <connectx/connectx.h>
#include <connectx/guard.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "hold.hpp"
#include "options.hpp"
#include "output.hpp"
#include "preflight.hpp"

namespace cxguard {
namespace {

// Exit statuses (connectx-guard(8), EXIT STATUS).
constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitNotAttached = 3;  // status: the guard is not (fully) attached

constexpr uint32_t kBoth = CONNECTX_GUARD_CONNECT4 | CONNECTX_GUARD_CONNECT6;

struct context {
    const args& a;
    const output& out;
    cgroup_facts cg;
};

int fail(const context& c, const std::string& message) {
    c.out.error(message);
    return kExitError;
}

// The library's error, after the checks of preflight.cpp have passed: what is left is the
// privilege, a stale pin, a library without the guard, or the kernel refusing the programs.
int library_error(const context& c, const char* doing) {
    int e = errno;
    std::string where = std::string(doing) + " cgroup " + c.a.cgroup;
    switch (e) {
        case ENOTSUP:
            return fail(c,
                        "this libconnectx was built without the BPF guard "
                        "(CONNECTX_BUILD_BPF=OFF): nothing to " +
                            std::string(to_string(c.a.cmd)));
        case EEXIST:
            return fail(c, std::string("pin ") + c.a.pin + "/" + pin_name(c.cg.id, "connect4") +
                               " or -connect6: a stale pin, not the guard attached to " +
                               c.a.cgroup + " (run detach with the same --pin first)");
        case EPERM:
            return fail(c, where + ": " + std::strerror(e) +
                               " (needs root, or CAP_BPF with CAP_NET_ADMIN and CAP_SYS_ADMIN)");
        default:
            return fail(c, where + ": " + std::strerror(e));
    }
}

connectx_guard_opts make_opts(const args& a) {
    connectx_guard_opts o{};
    o.size = sizeof o;
    o.pin_dir = a.pin;
    if (a.force_root) o.flags |= CONNECTX_GUARD_F_FORCE_ROOT;
    if (a.pin && !a.no_mount) o.flags |= CONNECTX_GUARD_F_MOUNT_BPFFS;
    return o;
}

json event(const args& a, const char* result) {
    return json{{"command", to_string(a.cmd)},
                {"cgroup", a.cgroup},
                {"result", result},
                {"pin", a.pin ? json(a.pin) : json(nullptr)}};
}

void say(const context& c, const char* result, const std::string& text) {
    c.out.result(event(c.a, result), std::string(c.a.cgroup) + ": " + text);
}

const char* signal_name(int sig) {
    const char* n = sigabbrev_np(sig);
    static thread_local char buf[16];
    std::snprintf(buf, sizeof buf, "SIG%s", n ? n : "?");
    return buf;
}

// Holds the guard this process attached (handle `g`) until a signal or a detach by another.
int hold_foreground(const context& c, connectx_guard* g) {
    connectx_guard_info s{};
    s.size = sizeof s;
    if (connectx_guard_status(c.a.cgroup, nullptr, &s) < 0) {
        int e = errno;
        connectx_guard_close(g);
        errno = e;
        return library_error(c, "read the guard just attached to");
    }
    say(c, "attached", "attached; holding it until SIGINT, SIGTERM or SIGHUP");
    hold_outcome h = hold(c.a.cgroup, s.prog_id4, s.prog_id6);
    connectx_guard_close(g);  // the unpinned links detach here (or are already defunct)
    switch (h.end) {
        case hold_end::signal: {
            json doc = event(c.a, "released");
            doc["signal"] = signal_name(h.signal);
            c.out.result(doc, std::string(c.a.cgroup) + ": " + signal_name(h.signal) +
                                  " received: detached the guard and exiting");
            return kExitOk;
        }
        case hold_end::detached_by_other:
            return fail(c, std::string("cgroup ") + c.a.cgroup +
                               ": the guard this process held was detached by another process "
                               "(connectx-guard detach, bpftool); exiting");
        case hold_end::status_failed:
            return fail(c, std::string("cgroup ") + c.a.cgroup + ": " + std::strerror(h.error) +
                               " while holding the guard (was the cgroup removed?); exiting");
    }
    return kExitError;
}

int do_attach(context& c) {
    const args& a = c.a;
    if (c.cg.root && !a.force_root)
        return fail(c, std::string("cgroup ") + a.cgroup +
                           ": the root cgroup (every process of the host): add --force-root "
                           "to attach there");
    bool created = false;
    if (a.pin)
        if (std::string m = prepare_pin_dir(a.pin, !a.no_mount, created); !m.empty())
            return fail(c, m);
    connectx_guard_opts o = make_opts(a);
    connectx_guard* g = nullptr;
    if (!a.pin) block_hold_signals();  // from now on a signal waits for hold()
    int rc = connectx_guard_attach(a.cgroup, &o, a.pin ? nullptr : &g);
    if (rc < 0) {
        int e = errno;
        if (created) ::rmdir(a.pin);  // fails, harmlessly, when bpffs was mounted on it
        errno = e;
        return library_error(c, "attach the guard to");
    }
    if (rc == 0) {
        say(c, "already-attached",
            a.pin ? "already attached" : "already attached (by another holder; nothing to hold)");
        return kExitOk;
    }
    if (a.pin) {
        say(c, "attached", std::string("attached and pinned in ") + a.pin);
        return kExitOk;
    }
    return hold_foreground(c, g);
}

// Detach with a --pin that holds none of this cgroup's pins would cut the guard's links and
// leave the real pins (in another directory) holding defunct links: refuse, touch nothing.
int do_detach(const context& c) {
    const args& a = c.a;
    connectx_guard_opts o = make_opts(a);
    if (a.pin) {
        connectx_guard_info s{};
        s.size = sizeof s;
        if (connectx_guard_status(a.cgroup, &o, &s) < 0)
            return library_error(c, "read the guard on");
        if (!s.pinned) {
            std::string none = std::string("pin directory ") + a.pin +
                               ": holds no pin of the guard on " + a.cgroup + " (" +
                               pin_name(c.cg.id, "connect4") + ", -connect6)";
            if (!s.attached)
                return fail(c, none + ", which is not attached either: nothing to detach");
            return fail(c, none + "; nothing detached: give the --pin used at attach, or no --pin");
        }
    }
    int rc = connectx_guard_detach(a.cgroup, &o);
    if (rc < 0) return library_error(c, "detach the guard from");
    say(c, rc == 1 ? "detached" : "not-attached",
        rc == 1 ? (a.pin ? "detached, pins removed" : "detached") : "was not attached");
    return kExitOk;
}

json program_json(const connectx_guard_info& s, const args& a, uint32_t bit, uint32_t id) {
    return json{{"attached", (s.attached & bit) != 0},
                {"prog_id", id},
                {"pinned", a.pin ? json((s.pinned & bit) != 0) : json(nullptr)}};
}

std::string program_text(const connectx_guard_info& s, const args& a, uint32_t bit, uint32_t id) {
    std::string t = (s.attached & bit) ? "true" : "false";
    if (id) t += " (prog id " + std::to_string(id) + ")";
    if (a.pin) t += (s.pinned & bit) ? " pinned" : " not pinned";
    return t;
}

int do_status(const context& c) {
    const args& a = c.a;
    connectx_guard_opts o = make_opts(a);
    connectx_guard_info s{};
    s.size = sizeof s;
    if (connectx_guard_status(a.cgroup, &o, &s) < 0) return library_error(c, "read the guard on");
    json doc = {{"cgroup", a.cgroup},
                {"attached", s.attached == kBoth},
                {"connect4", program_json(s, a, CONNECTX_GUARD_CONNECT4, s.prog_id4)},
                {"connect6", program_json(s, a, CONNECTX_GUARD_CONNECT6, s.prog_id6)},
                {"checked", s.checked},
                {"refused", s.refused},
                {"skipped", s.skipped}};
    std::string text = std::string("cgroup:   ") + a.cgroup + "\n" + "attached: " +
                       (s.attached == kBoth ? "yes"
                        : s.attached        ? "partly"
                                            : "no") +
                       "\nconnect4: " + program_text(s, a, CONNECTX_GUARD_CONNECT4, s.prog_id4) +
                       "\nconnect6: " + program_text(s, a, CONNECTX_GUARD_CONNECT6, s.prog_id6) +
                       "\nchecked:  " + std::to_string(s.checked) +
                       "\nrefused:  " + std::to_string(s.refused) +
                       "\nskipped:  " + std::to_string(s.skipped) + "\n";
    c.out.result(doc, text);
    return s.attached == kBoth ? kExitOk : kExitNotAttached;
}

int run(const args& a, const output& out) {
    context c{a, out, {}};
    if (std::string m = check_cgroup(a.cgroup, c.cg); !m.empty()) return fail(c, m);
    if (a.pin && a.cmd != command::attach)
        if (std::string m = check_pin_dir(a.pin); !m.empty()) return fail(c, m);
    switch (a.cmd) {
        case command::attach:
            return do_attach(c);
        case command::detach:
            return do_detach(c);
        case command::status:
            return do_status(c);
        case command::none:
            break;
    }
    return kExitUsage;
}

}  // namespace
}  // namespace cxguard

int main(int argc, char** argv) {
    cxguard::args a;
    std::string error;
    cxguard::parse_outcome o = cxguard::parse_args(argc, argv, a, error);
    cxguard::output out(a);
    switch (o) {
        case cxguard::parse_outcome::help:
            std::fputs(cxguard::usage_text(), stdout);
            return cxguard::kExitOk;
        case cxguard::parse_outcome::version:
            std::printf("connectx-guard %d.%d.%d\n", CONNECTX_VERSION_MAJOR, CONNECTX_VERSION_MINOR,
                        CONNECTX_VERSION_PATCH);
            return cxguard::kExitOk;
        case cxguard::parse_outcome::error:
            out.error(error + (a.json ? "" : "\nTry 'connectx-guard --help'."));
            return cxguard::kExitUsage;
        case cxguard::parse_outcome::run:
            break;
    }
    return cxguard::run(a, out);
}
