// options.hpp - the command line of connectx-guard(8): a command word (attach, detach, status)
// and options before or after it; bpftool's -j/--json and -p/--pretty.
#pragma once

#include <string>

namespace cxguard {

enum class command { none, attach, detach, status };

struct args {
    command cmd = command::none;
    const char* cgroup = nullptr;
    const char* pin = nullptr;
    bool no_mount = false;
    bool force_root = false;
    bool json = false;    // -j: one JSON object on stdout, errors included
    bool pretty = false;  // -p: indented JSON (implies -j)
};

enum class parse_outcome { run, help, version, error };

// Parses argv into `a`. On error, `error` names the offending word. The JSON flags are found
// before anything else, so that an error in an earlier word is reported as JSON too.
parse_outcome parse_args(int argc, char** argv, args& a, std::string& error);

// The --help text.
const char* usage_text() noexcept;

// The command's name ("attach", ...).
const char* to_string(command c) noexcept;

}  // namespace cxguard
