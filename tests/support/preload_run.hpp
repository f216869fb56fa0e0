// preload_run.hpp - running programs for the drop-in's tests: the same program plain and under
// connectx-exec, and servers (nginx, python3 -m http.server) started in the background in the
// caller's namespace and stopped by pid.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "support/cli_run.hpp"

namespace cxtest {

// Built paths, from the build system.
const std::string& connectx_exec_path();
const std::string& preload_library_path();
// A file in tests/support ("preload_udp_flows.py").
std::string support_file(const char* name);

// Empty if `program` (an absolute path) is installed and executable, else why the test cannot run.
std::string missing_program(const char* program);

// Runs `argv` (argv[0] an absolute path) plain, or under connectx-exec with `exec_options`
// before "--". Environment additions in `env` apply to the child only.
cli_result run_plain(const std::vector<std::string>& argv, int timeout_s = 60,
                     const std::map<std::string, std::string>& env = {});
cli_result run_under_exec(const std::vector<std::string>& argv,
                          const std::vector<std::string>& exec_options = {}, int timeout_s = 60);

// "key=value" out of a program's one-line report ("connected=64 unique=64 ..."); -1 if absent.
long report_value(const std::string& line, const std::string& key);
std::string report_word(const std::string& line, const std::string& key);

// Waits up to `timeout_s` for a UDP socket bound to local port `port` in this namespace
// (/proc/net/udp): a server started in the background is ready.
bool udp_port_bound(uint16_t port, int timeout_s);

// A program running in the background, output to a file; stopped (SIGTERM, then SIGKILL after
// 5 s) and reaped on destruction.
class background_program {
public:
    explicit background_program(const std::vector<std::string>& argv);
    ~background_program();
    background_program(const background_program&) = delete;
    background_program& operator=(const background_program&) = delete;

    pid_t pid() const { return pid_; }
    // Everything the program wrote to stdout and stderr so far.
    std::string output() const;
    // Waits up to `timeout_s` for `text` to appear in the output.
    bool wait_for_output(const std::string& text, int timeout_s = 10) const;

private:
    pid_t pid_ = -1;
    std::string log_;
};

}  // namespace cxtest
