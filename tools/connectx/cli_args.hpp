// cli_args.hpp - the command line as data: what the user asked for, checked for form (numbers,
// ports, numeric addresses) but not against the system (names are resolved later).
#pragma once

#include <connectx/connectx.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cxcli {

struct port_span {
    uint16_t lo = 0;  // inclusive, host order
    uint16_t hi = 0;  // inclusive; lo == hi for a single port
};

struct cli_args {
    std::string url;

    // HTTP
    std::string method;                // -X; empty = GET, HEAD with -I, POST with -d
    std::vector<std::string> headers;  // -H, in order
    std::string user_agent;            // -A; empty = connectx/VERSION
    std::optional<std::string> data;   // -d as given ("@file" is read by main)
    bool include = false;              // -i
    bool head = false;                 // -I
    bool fail = false;                 // -f

    // Output
    std::string output;       // -o; empty = stdout
    std::string write_out;    // -w as given ("@file" is read by main)
    bool verbose = false;     // -v
    bool silent = false;      // -s
    bool show_error = false;  // -S

    // Source control
    std::optional<cx::address> source_ip;  // --source IP[:PORT] or --interface IP (port 0)
    uint16_t source_port = 0;              // --source IP:PORT
    std::string interface_name;            // --interface NAME
    std::optional<port_span> local_port;   // --local-port N[-M]
    int family = 0;                        // AF_INET (-4), AF_INET6 (-6), 0 = either

    // Timeouts in seconds; 0 = none.
    double connect_timeout = 0;
    double max_time = 0;
    std::optional<double> idle_timeout;  // tcp:// and udp:// after the input ends

    bool help = false;
    bool version = false;
};

struct parse_outcome {
    cli_args args;
    std::string error;  // empty on success; else a one-line reason (exit status 2)
};

parse_outcome parse_args(const std::vector<std::string>& argv);

// Pieces, exposed for tests.
std::optional<port_span> parse_port_span(const std::string& text);  // "N" or "N-M"
std::optional<double> parse_seconds(const std::string& text);       // "2", "0.5"

}  // namespace cxcli

namespace cxcli {
// The text of --help.
const char* usage_text();
}  // namespace cxcli
