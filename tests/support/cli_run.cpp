// cli_run.cpp - fork/exec of the program under test with its three standard streams on pipes.
// The caller may have server threads running: between fork and exec the child only calls
// async-signal-safe functions, with every string prepared beforehand.
#include "cli_run.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

namespace cxtest {

cli_result run_program(const std::string& program, const std::vector<std::string>& args,
                       const std::string& input, int timeout_s) {
    cli_result r;
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(program.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);

    int in[2], out[2], err[2];
    if (::pipe2(in, O_CLOEXEC) || ::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC)) return r;
    auto start = std::chrono::steady_clock::now();
    pid_t pid = ::fork();
    if (pid == 0) {
        // If the test process dies (a harness time limit kills it), so does the program: it must
        // not linger blocked on a pipe nobody reads.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        ::dup2(in[0], 0);
        ::dup2(out[1], 1);
        ::dup2(err[1], 2);
        ::execv(program.c_str(), argv.data());
        _exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    if (pid < 0) {
        ::close(in[1]);
        ::close(out[0]);
        ::close(err[0]);
        return r;
    }
    // The child may exit without reading its input: that must not kill us.
    ::signal(SIGPIPE, SIG_IGN);
    size_t written = 0;
    int in_fd = in[1];
    // Non-blocking, or a large input would block us in write() while the program blocks writing
    // an output we are not reading.
    ::fcntl(in_fd, F_SETFL, O_NONBLOCK);
    if (input.empty()) {
        ::close(in_fd);
        in_fd = -1;
    }
    bool out_open = true, err_open = true;
    auto deadline = start + std::chrono::seconds(timeout_s);
    bool killed = false;
    while (out_open || err_open) {
        pollfd fds[3] = {{out_open ? out[0] : -1, POLLIN, 0},
                         {err_open ? err[0] : -1, POLLIN, 0},
                         {in_fd, POLLOUT, 0}};
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - std::chrono::steady_clock::now())
                        .count();
        if (left <= 0) {
            ::kill(pid, SIGKILL);
            killed = true;
            break;
        }
        int n = ::poll(fds, 3, int(left));
        if (n < 0 && errno != EINTR) break;
        char buf[65536];
        for (int i = 0; i < 2; ++i) {
            if (!fds[i].revents) continue;
            ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
            if (got > 0) {
                (i == 0 ? r.out : r.err).append(buf, size_t(got));
            } else if (got == 0 || errno != EINTR) {
                (i == 0 ? out_open : err_open) = false;
            }
        }
        if (in_fd >= 0 && fds[2].revents) {
            ssize_t w = ::write(in_fd, input.data() + written, input.size() - written);
            if (w > 0) written += size_t(w);
            if ((w < 0 && errno != EAGAIN) || written == input.size()) {
                ::close(in_fd);
                in_fd = -1;
            }
        }
    }
    if (in_fd >= 0) ::close(in_fd);
    ::close(out[0]);
    ::close(err[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!killed && WIFEXITED(status)) r.exit = WEXITSTATUS(status);
    if (killed) r.err += "\n[killed after " + std::to_string(timeout_s) + " s]";
    return r;
}

}  // namespace cxtest
