// main.cpp - connectx-stress: print the header, run each chosen technique in a scenario process
// of its own (which makes its own network namespace) while showing progress, then print the
// table, the JSON document or the CSV rows, and draw the plot.
#include <connectx/connectx.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "guard_session.hpp"
#include "options.hpp"
#include "plot.hpp"
#include "report.hpp"
#include "scenario.hpp"
#include "workers.hpp"

namespace cxstress {
namespace {

// A scenario that overruns its opening time by this much more (checks and tear-down of a
// million sockets take seconds, not minutes) is killed.
constexpr int kGraceSeconds = 120;
// Progress is drawn only for scenarios longer than this: short runs print just the table.
constexpr double kProgressAfterS = 0.5;
constexpr useconds_t kPollUs = 100 * 1000;

volatile sig_atomic_t g_interrupted = 0;
void on_interrupt(int) {
    g_interrupted = 1;
}

// Runs one scenario in a child process and waits for it, drawing progress. Returns the result.
scenario_result run_one(const config& cfg, technique_id t, shared_state& shm, int slot,
                        bool show_progress) {
    shm.progress[slot].store(0);
    shm.phase[slot].store(scenario_phase::setting_up);
    shm.results[slot] = scenario_result{};
    shm.results[slot].technique = t;
    std::fflush(stdout);
    std::fflush(stderr);
    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) {
        scenario_result r;
        r.technique = t;
        r.stop = stop_reason::setup_failed;
        std::snprintf(r.message, sizeof r.message, "fork: %s", std::strerror(errno));
        return r;
    }
    if (pid == 0) {
        ::signal(SIGINT, SIG_DFL);
        ::signal(SIGTERM, SIG_DFL);
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the tool
        if (::getppid() != parent) ::_exit(1);
        run_scenario(cfg, t, shm.progress[slot], shm.phase[slot], shm.results[slot]);
        std::fflush(nullptr);
        ::_exit(0);
    }
    double start = monotonic_seconds();
    double opening_since = 0;  // when the phase turned to opening, as seen from here
    double kill_at = start + cfg.timeout_s + kGraceSeconds;
    progress_state p{info(t).name,
                     slot + 1,
                     int(cfg.techniques.size()),
                     scenario_phase::setting_up,
                     0,
                     cfg.limit(info(t).protocol),
                     0,
                     0,
                     double(cfg.timeout_s)};
    int status = 0;
    bool killed = false;
    for (;;) {
        pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR)) break;
        double now = monotonic_seconds();
        if (!killed && (g_interrupted || now > kill_at)) {
            ::kill(pid, SIGKILL);  // its workers follow (PR_SET_PDEATHSIG)
            killed = true;
        }
        p.phase = shm.phase[slot].load();
        if (p.phase == scenario_phase::opening && opening_since == 0) opening_since = now;
        p.done = shm.progress[slot].load();
        p.elapsed_s = now - start;
        p.opening_s = opening_since > 0 ? now - opening_since : 0;
        if (show_progress && p.elapsed_s > kProgressAfterS) draw_progress(stdout, p);
        ::usleep(kPollUs);
    }
    if (show_progress) clear_progress(stdout);
    if (t == technique_id::udp_connectx_guard) remove_leftover_guard_cgroup(pid);
    scenario_result r = shm.results[slot];
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        r.stop = stop_reason::crashed;
        r.established = shm.progress[slot].load();  // opened before the end, as far as known
        if (g_interrupted)
            std::snprintf(r.message, sizeof r.message, "interrupted");
        else if (killed)
            std::snprintf(r.message, sizeof r.message, "killed after %d s", int(kill_at - start));
        else if (WIFSIGNALED(status))
            std::snprintf(r.message, sizeof r.message, "scenario process killed by signal %s",
                          strsignal(WTERMSIG(status)));
        else
            std::snprintf(r.message, sizeof r.message, "scenario process failed");
    }
    return r;
}

int run(const config& cfg) {
    void* mem = ::mmap(nullptr, sizeof(shared_state), PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        std::fprintf(stderr, "connectx-stress: mmap: %s\n", std::strerror(errno));
        return 1;
    }
    auto* shm = new (mem) shared_state{};
    struct sigaction sa {};
    sa.sa_handler = on_interrupt;
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);

    bool show_progress = cfg.progress && !cfg.json && !cfg.csv && ::isatty(STDOUT_FILENO);
    if (!cfg.json && !cfg.csv) print_header(stdout, cfg);
    std::vector<scenario_result> results;
    bool failed = false;
    for (size_t i = 0; i < cfg.techniques.size() && !g_interrupted; ++i) {
        scenario_result r = run_one(cfg, cfg.techniques[i], *shm, int(i), show_progress);
        // The guarded row is optional: a guard that cannot load or attach here is reported in
        // the table but does not fail the run.
        bool optional = cfg.techniques[i] == technique_id::udp_connectx_guard &&
                        r.stop == stop_reason::setup_failed;
        failed |=
            !optional && (r.stop == stop_reason::setup_failed || r.stop == stop_reason::crashed);
        results.push_back(r);
    }
    if (cfg.json)
        print_json(stdout, cfg, results);
    else if (cfg.csv)
        print_csv(stdout, cfg, results);
    else
        print_table(stdout, cfg, results);
    std::fflush(stdout);
    std::string plot_error;
    if (cfg.plot && write_plot(cfg.plot, cfg, results, plot_error) != 0) {
        std::fprintf(stderr, "connectx-stress: %s\n", plot_error.c_str());
        failed = true;
    }
    shm->~shared_state();
    ::munmap(mem, sizeof(shared_state));
    if (g_interrupted) return 130;
    return failed ? 1 : 0;
}

}  // namespace
}  // namespace cxstress

int main(int argc, char** argv) {
    cxstress::config cfg;
    std::string error;
    switch (cxstress::parse_options(argc, argv, cfg, error)) {
        case cxstress::parse_outcome::help:
            std::fputs(cxstress::usage_text(), stdout);
            return 0;
        case cxstress::parse_outcome::version:
            std::printf("connectx-stress %d.%d.%d\n", CONNECTX_VERSION_MAJOR,
                        CONNECTX_VERSION_MINOR, CONNECTX_VERSION_PATCH);
            return 0;
        case cxstress::parse_outcome::error:
            std::fprintf(stderr, "connectx-stress: %s\nTry 'connectx-stress --help'.\n",
                         error.c_str());
            return 2;
        case cxstress::parse_outcome::run:
            break;
    }
    return cxstress::run(cfg);
}
