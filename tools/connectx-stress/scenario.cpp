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

// Opens connections with as many workers as it takes. Returns the workers, all still holding
// their sockets; fills the counts, stop reason and time of `out`.
std::vector<worker> open_all(const config& cfg, technique_id t, const endpoints& ep,
                             int release_r, int release_w, std::atomic<uint64_t>& progress,
                             scenario_result& out) {
    std::vector<worker> started;
    worker_job job;
    job.technique = t;
    job.ep = &ep;
    job.limit = out.limit;
    job.deadline = monotonic_seconds() + cfg.timeout_s;
    job.progress = &progress;
    for (;;) {
        worker w;
        if (int e = start_worker(job, release_r, release_w, w)) {
            out.stop = stop_reason::setup_failed;
            set_message(out, "fork a worker", e);
            break;
        }
        started.push_back(w);
        worker_report r;
        if (read_report(started.back(), r) != 0) {
            out.stop = stop_reason::crashed;
            std::snprintf(out.message, sizeof out.message,
                          "worker %zu died before reporting", started.size());
            break;
        }
        out.established += r.opened;
        out.open_seconds += r.seconds;
        job.first += r.opened;
        if (r.stop == worker_stop::full && r.opened > 0) continue;
        if (r.stop == worker_stop::full) {  // not even one socket fits: no progress possible
            out.stop = stop_reason::setup_failed;
            set_message(out, "worker file table", EMFILE);
        } else {
            out.stop = r.stop == worker_stop::failure ? stop_reason::failure
                       : r.stop == worker_stop::limit ? stop_reason::limit
                                                      : stop_reason::timeout;
            out.error = r.error;
        }
        break;
    }
    out.workers = uint32_t(started.size());
    return started;
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
                      scenario_result& out) {
    proto p = info(t).protocol;
    std::string how, what;
    if (int e = enter_private_netns(how)) {
        out.stop = stop_reason::setup_failed;
        set_message(out, "create a network namespace (needs root or user namespaces)", e);
        return;
    }
    // Every connection may wait in one listener's accept queue; the first failure comes at the
    // latest one past a destination's share.
    uint64_t per_dst = out.limit / uint64_t(cfg.destinations) + 1;
    int backlog = int(std::clamp<uint64_t>(per_dst + 16, kMinBacklog, 1u << 30));
    endpoints ep;
    if (int e = set_up_netns(cfg, backlog, ep, what)) {
        out.stop = stop_reason::setup_failed;
        set_message(out, what, e);
        return;
    }
    servers srv;
    if (int e = srv.start(p, ep, backlog, what)) {
        out.stop = stop_reason::setup_failed;
        set_message(out, what, e);
        return;
    }
    guard_session guard;
    if (t == technique_id::udp_connectx_guard) {
        if (int e = guard.start(what)) {
            out.stop = e == ENOSYS ? stop_reason::not_built : stop_reason::setup_failed;
            set_message(out, what, e);
            return;
        }
    }
    int release[2];
    if (::pipe2(release, O_CLOEXEC) < 0) {
        out.stop = stop_reason::setup_failed;
        set_message(out, "pipe", errno);
        return;
    }
    int64_t slab_before = slab_bytes();
    std::vector<worker> workers =
        open_all(cfg, t, ep, release[0], release[1], progress, out);
    int64_t slab_after = slab_bytes();
    if (slab_before >= 0 && slab_after >= 0) out.slab_delta_bytes = slab_after - slab_before;
    check_tuples(cfg, p, out);

    // Release: the workers read EOF, exit, and the kernel closes their sockets.
    ::close(release[1]);
    ::close(release[0]);
    for (const worker& w : workers) {
        int status = 0;
        while (::waitpid(w.pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
}

}  // namespace

void run_scenario(const config& cfg, technique_id t, std::atomic<uint64_t>& progress,
                  scenario_result& out) {
    double start = monotonic_seconds();
    out = scenario_result{};
    out.technique = t;
    out.limit = cfg.limit(info(t).protocol);
    run_in_namespace(cfg, t, progress, out);
    out.wall_seconds = monotonic_seconds() - start;
}

}  // namespace cxstress
