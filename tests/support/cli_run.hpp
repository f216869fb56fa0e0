// cli_run.hpp - run the connectx(1) program as a child process: arguments, standard input,
// captured standard output and error, exit status, a time limit.
#pragma once

#include <string>
#include <vector>

namespace cxtest {

struct cli_result {
    int exit = -1;       // exit status; -1 when killed (time limit) or not started
    std::string out;     // standard output
    std::string err;     // standard error
    double seconds = 0;  // wall time
};

// Runs `program` with `args`; writes `input` to its standard input, then closes it. Kills the
// child after `timeout_s`.
cli_result run_program(const std::string& program, const std::vector<std::string>& args,
                       const std::string& input = "", int timeout_s = 30);

}  // namespace cxtest
