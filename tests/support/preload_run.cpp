// preload_run.cpp - see preload_run.hpp.
#include "support/preload_run.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

namespace cxtest {

const std::string& connectx_exec_path() {
    static const std::string p = CONNECTX_EXEC_BIN;
    return p;
}

const std::string& preload_library_path() {
    static const std::string p = CONNECTX_PRELOAD_LIB;
    return p;
}

std::string support_file(const char* name) {
    return std::string(CONNECTX_TEST_SUPPORT_DIR) + "/" + name;
}

std::string missing_program(const char* program) {
    if (access(program, X_OK) == 0) return "";
    return std::string(program) + " is not installed (tools/install-deps installs it)";
}

cli_result run_plain(const std::vector<std::string>& argv, int timeout_s,
                     const std::map<std::string, std::string>& env) {
    // run_program's child inherits our environment: set the additions around it. The tests
    // call this from their namespace child before any thread of theirs reads the environment.
    std::map<std::string, std::string> saved;
    for (const auto& [k, v] : env) {
        const char* old = std::getenv(k.c_str());
        saved[k] = old ? old : std::string("\x01");
        setenv(k.c_str(), v.c_str(), 1);
    }
    std::vector<std::string> args(argv.begin() + 1, argv.end());
    cli_result r = run_program(argv[0], args, "", timeout_s);
    for (const auto& [k, v] : saved) {
        if (v == "\x01")
            unsetenv(k.c_str());
        else
            setenv(k.c_str(), v.c_str(), 1);
    }
    return r;
}

cli_result run_under_exec(const std::vector<std::string>& argv,
                          const std::vector<std::string>& exec_options, int timeout_s) {
    std::vector<std::string> full{connectx_exec_path()};
    full.insert(full.end(), exec_options.begin(), exec_options.end());
    full.push_back("--");
    full.insert(full.end(), argv.begin(), argv.end());
    return run_plain(full, timeout_s);
}

std::string report_word(const std::string& line, const std::string& key) {
    std::istringstream words(line);
    std::string w;
    while (words >> w)
        if (w.rfind(key + "=", 0) == 0) return w.substr(key.size() + 1);
    return "";
}

long report_value(const std::string& line, const std::string& key) {
    std::string v = report_word(line, key);
    return v.empty() ? -1 : std::strtol(v.c_str(), nullptr, 10);
}

bool udp_port_bound(uint16_t port, int timeout_s) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    while (std::chrono::steady_clock::now() < deadline) {
        std::ifstream udp("/proc/net/udp");
        std::string line;
        std::getline(udp, line);  // header
        while (std::getline(udp, line)) {
            unsigned local_port = 0;  // "  sl: LOCALIP:PORT REMOTEIP:PORT ..." (hex)
            if (std::sscanf(line.c_str(), " %*u: %*x:%x", &local_port) == 1 && local_port == port)
                return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

background_program::background_program(const std::vector<std::string>& argv) {
    char dir[] = "/tmp/cxtest-bg-XXXXXX";
    if (!mkdtemp(dir)) return;
    log_ = std::string(dir) + "/output";
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    int out = open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    pid_ = fork();
    if (pid_ == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(out, 1);
        dup2(out, 2);
        execv(args[0], args.data());
        _exit(127);
    }
    close(out);
}

background_program::~background_program() {
    if (pid_ > 0) {
        kill(pid_, SIGTERM);
        for (int i = 0; i < 50 && waitpid(pid_, nullptr, WNOHANG) == 0; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        if (kill(pid_, 0) == 0) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
    }
    if (!log_.empty()) {
        unlink(log_.c_str());
        rmdir(log_.substr(0, log_.rfind('/')).c_str());
    }
}

std::string background_program::output() const {
    std::ifstream in(log_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

bool background_program::wait_for_output(const std::string& text, int timeout_s) const {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    while (std::chrono::steady_clock::now() < deadline) {
        if (output().find(text) != std::string::npos) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

}  // namespace cxtest
