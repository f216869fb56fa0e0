// scenario.cpp - a scenario's leading process: namespace, servers, workers, checks, tear-down.
#include "scenario.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "guard_session.hpp"
#include "netns.hpp"
#include "servers.hpp"
#include "sock_dump.hpp"
#include "workers.hpp"

namespace cxstress {
namespace {

// Listen backlog and somaxconn floor: the kernel's default somaxconn.
constexpr int kMinBacklog = 4096;

void set_message(scenario_result& out, const std::string& what, int e) {
    std::snprintf(out.message, sizeof out.message, "%s: %s", what.c_str(), std::strerror(e));
}

// Kernel slab memory of the whole machine, in bytes; -1 when unreadable. Sockets, their inodes,
// files and dentries all live in slab caches, so the delta over a run is what the sockets cost
// (plus whatever else the machine allocated meanwhile: meaningful for many sockets only).
int64_t slab_bytes() {
    FILE* f = std::fopen("/proc/meminfo", "re");
    if (!f) return -1;
    char line[256];
    long long kb = -1;
    while (std::fgets(line, sizeof line, f))
        if (std::sscanf(line, "Slab: %lld kB", &kb) == 1) break;
    std::fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

// Opens the connections (the opener process and its holders keep them). Fills the counts, stop
// reason and time of `out`. Returns the opener, which waits to be released; pid -1 if none.
opener open_all(const config& cfg, technique_id t, const endpoints& ep, int release_r,
                int release_w, std::atomic<uint64_t>& progress, scenario_result& out) {
    open_job job;
    job.technique = t;
    job.ep = &ep;
    job.limit = out.limit;
    job.capacity = cfg.capacity();
    job.deadline = monotonic_seconds() + cfg.timeout_s;
    job.progress = &progress;
    opener o;
    if (int e = start_opener(job, release_r, release_w, o)) {
        out.stop = stop_reason::setup_failed;
        set_message(out, "fork the opener", e);
        return o;
    }
    opener_report r;
    if (read_report(o, r) != 0) {
        out.stop = stop_reason::crashed;
        std::snprintf(out.message, sizeof out.message, "the opener died before reporting");
        return o;
    }
    out.established = r.opened;
    out.open_seconds = r.seconds;
    out.holders = r.holders;
    out.error = r.error;
    out.times = r.times;
    switch (r.stop) {
        case open_stop::failure:
            out.stop = stop_reason::failure;
            break;
        case open_stop::limit:
            out.stop = stop_reason::limit;
            break;
        case open_stop::timeout:
            out.stop = stop_reason::timeout;
            break;
        case open_stop::holder_failed:
            out.stop = stop_reason::setup_failed;
            set_message(out, "hand sockets over to a holder process", r.error);
            out.error = 0;
            break;
    }
    return o;
}

// The SOCK_DIAG check, while every socket is still open.
void check_tuples(const config& cfg, proto p, scenario_result& out) {
    std::vector<tuple4> tuples;
    int e = dump_established(cfg.family, p == proto::tcp ? IPPROTO_TCP : IPPROTO_UDP, tuples);
    if (e != 0) {
        out.diag_error = e;
        return;
    }
    tuple_stats s = analyse(tuples, kServerPort);
    out.diag_established = int64_t(s.clients);
    out.duplicate_tuples = int64_t(s.duplicates);
    out.local_pairs = int64_t(s.local_pairs);
    out.shared_local_pairs = s.shared ? 1 : 0;
}

void run_in_namespace(const config& cfg, technique_id t, std::atomic<uint64_t>& progress,
                      std::atomic<scenario_phase>& phase, scenario_result& out) {
    proto p = info(t).protocol;
    std::string how, what;  // how: root or a user namespace; nothing depends on it
    if (int e = enter_private_netns(how)) {
        out.stop = stop_reason::setup_failed;
        set_message(out, "create a network namespace (needs root or user namespaces)", e);
        return;
    }
    // Every connection waits in its listener's accept queue: the queue must hold a destination's
    // whole share (sequential order may put the range plus the overflow attempts on the last).
    uint64_t per_dst =
        std::max<uint64_t>(out.limit / uint64_t(cfg.destinations) + 1, cfg.per_destination() + 1);
    int backlog = int(std::clamp<uint64_t>(per_dst + 16, kMinBacklog, 1u << 30));
    endpoints ep;
    if (int e = set_up_netns(cfg, backlog, ep, what)) {
        out.stop = stop_reason::setup_failed;
        set_message(out, what, e);
        return;
    }
    if (cfg.fill == fill_order::sequential) ep.share = cfg.share(p);
    servers srv;
    if (int e = srv.start(p, ep, backlog, what)) {
        out.stop = stop_reason::setup_failed;
        set_message(out, what, e);
        return;
    }
    guard_session guard;
    if (t == technique_id::udp_connectx_guard) {
        if (int e = guard.start(what)) {
            if (e == ENOSYS) {
                out.stop = stop_reason::not_built;
                std::snprintf(out.message, sizeof out.message, "%s", what.c_str());
            } else {
                out.stop = stop_reason::setup_failed;
                set_message(out, what, e);
            }
            return;
        }
    }
    int release[2];
    if (::pipe2(release, O_CLOEXEC) < 0) {
        int e = errno;
        out.stop = stop_reason::setup_failed;
        set_message(out, "pipe", e);
        return;
    }
    int64_t slab_before = slab_bytes();
    phase.store(scenario_phase::opening);
    opener o = open_all(cfg, t, ep, release[0], release[1], progress, out);
    int64_t slab_after = slab_bytes();
    if (slab_before >= 0 && slab_after >= 0) out.slab_delta_bytes = slab_after - slab_before;
    phase.store(scenario_phase::checking);
    check_tuples(cfg, p, out);
    phase.store(scenario_phase::closing);

    // Release: the opener reads EOF, ends its holders and exits; the kernel closes the sockets.
    ::close(release[1]);
    ::close(release[0]);
    if (o.pid > 0)
        while (::waitpid(o.pid, nullptr, 0) < 0 && errno == EINTR) {
        }
}

}  // namespace

void run_scenario(const config& cfg, technique_id t, std::atomic<uint64_t>& progress,
                  std::atomic<scenario_phase>& phase, scenario_result& out) {
    double start = monotonic_seconds();
    out = scenario_result{};
    out.technique = t;
    out.limit = cfg.limit(info(t).protocol);
    run_in_namespace(cfg, t, progress, phase, out);
    out.wall_seconds = monotonic_seconds() - start;
}

}  // namespace cxstress
