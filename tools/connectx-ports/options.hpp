// options.hpp - connectx-ports' command line.
#pragma once

#include <string>

namespace cxports {

enum class format { text, json, prometheus };

struct args {
    bool udp = true;
    bool tcp = true;
    format fmt = format::text;
    int watch_s = 0;     // 0: one census
    long count = 0;      // with --watch: this many censuses, 0 = until a signal
    long top = 0;        // pairs shown per protocol, 0 = all
    std::string netns;   // "" = the caller's namespace
    std::string output;  // "" = stdout; else written whole and renamed into place
    bool help = false;
    bool version = false;
};

// Parses argv into `out`. Returns "" or the message of a usage error.
std::string parse_args(int argc, char** argv, args& out);
void print_usage(FILE* to);

}  // namespace cxports
