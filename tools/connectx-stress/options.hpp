// options.hpp - the command line of connectx-stress.
#pragma once

#include <string>

#include "stress.hpp"

namespace cxstress {

enum class parse_outcome { run, help, version, error };

// Parses argv into `cfg`. On error, `error` says what is wrong (for stderr, before the usage).
parse_outcome parse_options(int argc, char** argv, config& cfg, std::string& error);

// The --help text.
const char* usage_text() noexcept;

}  // namespace cxstress
