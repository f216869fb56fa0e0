// connectx-ports(8): the port budget per (source IP, destination) of a network namespace, like
// ss(8) for exhaustion. One census (cx::port_census) per protocol, printed as a table, JSON or
// Prometheus text; --watch repeats it; --output writes a file whole and renames it into place, as
// node_exporter's textfile collector wants; --netns NAME looks into /run/netns/NAME.
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <connectx/connectx.hpp>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "options.hpp"
#include "render.hpp"

namespace cxports {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

volatile sig_atomic_t g_stop = 0;
void on_signal(int) {
    g_stop = 1;
}

int fail(const std::string& message) {
    std::fprintf(stderr, "connectx-ports: %s\n", message.c_str());
    return kExitError;
}

// setns(2) into /run/netns/NAME (where `ip netns add` keeps its namespaces).
int enter_netns(const std::string& name) {
    const std::string path = "/run/netns/" + name;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail("--netns " + name + ": " + path + ": " + std::strerror(errno));
    int rc = ::setns(fd, CLONE_NEWNET);
    int e = errno;
    ::close(fd);
    if (rc != 0) return fail("--netns " + name + ": setns: " + std::strerror(e));
    return kExitOk;
}

int take(const args& a, std::vector<protocol_census>& out) {
    struct which {
        bool on;
        const char* name;
        int protocol;
    };
    for (which w : {which{a.udp, "udp", IPPROTO_UDP}, which{a.tcp, "tcp", IPPROTO_TCP}}) {
        if (!w.on) continue;
        auto r = cx::port_census(w.protocol);
        if (!r) return fail(std::string(w.name) + " census (SOCK_DIAG): " + r.error().message());
        out.push_back({w.name, std::move(*r)});
    }
    return kExitOk;
}

std::string render(const args& a, const std::vector<protocol_census>& c) {
    switch (a.fmt) {
        case format::json:
            return render_json(c, a.top);
        case format::prometheus:
            return render_prometheus(c, a.top);
        case format::text:
            break;
    }
    return render_text(c, a.top);
}

// The whole text to FILE.tmp, then renamed over FILE: a reader never sees half a census.
int write_file(const std::string& path, const std::string& text) {
    const std::string tmp = path + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "we");
    if (!f) return fail(tmp + ": " + std::strerror(errno));
    bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    ok = (std::fclose(f) == 0) && ok;
    if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
        int e = errno;
        std::remove(tmp.c_str());
        return fail(path + ": " + std::strerror(e));
    }
    return kExitOk;
}

int once(const args& a, bool clear) {
    std::vector<protocol_census> c;
    if (int rc = take(a, c)) return rc;
    const std::string text = render(a, c);
    if (!a.output.empty()) return write_file(a.output, text);
    if (clear) std::fputs("\033[H\033[2J", stdout);
    std::fputs(text.c_str(), stdout);
    std::fflush(stdout);
    return kExitOk;
}

int run(const args& a) {
    if (!a.netns.empty())
        if (int rc = enter_netns(a.netns)) return rc;
    if (!a.watch_s) return once(a, false);
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    // The table is redrawn in place on a terminal; JSON and Prometheus go on, one per round.
    const bool clear = a.fmt == format::text && a.output.empty() && isatty(STDOUT_FILENO);
    for (long n = 0; !g_stop && (a.count == 0 || n < a.count); ++n) {
        if (n > 0) {
            for (int s = 0; s < a.watch_s * 10 && !g_stop; ++s) usleep(100000);
            if (g_stop) break;
        }
        if (int rc = once(a, clear)) return rc;
    }
    return kExitOk;
}

}  // namespace
}  // namespace cxports

int main(int argc, char** argv) {
    cxports::args a;
    std::string err = cxports::parse_args(argc, argv, a);
    if (!err.empty()) {
        std::fprintf(stderr, "connectx-ports: %s\n", err.c_str());
        cxports::print_usage(stderr);
        return cxports::kExitUsage;
    }
    if (a.help) {
        cxports::print_usage(stdout);
        return 0;
    }
    if (a.version) {
        std::printf("connectx-ports %d.%d.%d\n", CONNECTX_VERSION_MAJOR, CONNECTX_VERSION_MINOR,
                    CONNECTX_VERSION_PATCH);
        return 0;
    }
    return cxports::run(a);
}
