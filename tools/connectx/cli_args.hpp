// cli_args.hpp - the command line as data: what the user asked for, checked for form (numbers,
// ports, numeric addresses) but not against the system (names are resolved later, files read
// later). One getopt_long parser for every URL scheme.
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

// One -d/--data* or --json argument, as given; turned into bytes by request_body.cpp.
enum class data_kind {
    ascii,      // -d, --data, --data-ascii: @file has CR and LF stripped
    binary,     // --data-binary: @file as is
    raw,        // --data-raw: no @ meaning
    urlencode,  // --data-urlencode: [name]=content, [name]@file, content
    json,       // --json: as --data-binary, joined without '&', JSON content type
};

struct data_arg {
    data_kind kind = data_kind::ascii;
    std::string value;
};

// Where the body of one URL goes: -o FILE or -O (the URL's file name). Matched to the URLs in
// order, as curl does.
struct output_arg {
    bool remote_name = false;  // -O
    std::string file;          // -o
};

enum class http_version { any, v1_0, v1_1, v2, v2_prior_knowledge };

struct cli_args {
    std::vector<std::string> urls;

    // Request
    std::string method;                // -X; empty = GET, HEAD with -I, POST with data
    std::vector<std::string> headers;  // -H, in order
    std::string user_agent;            // -A; empty = connectx/VERSION
    std::string referer;               // -e
    std::vector<data_arg> data;        // -d, --data-*, --json, in order
    std::vector<std::string> form;     // -F name=value, name=@file, name=<file
    bool get = false;                  // -G: data goes into the query
    std::string upload_file;           // -T; "-" = standard input
    std::string user;                  // -u user:password
    std::string cookie;                // -b: "n=v; ..." or a file to read
    std::string cookie_jar;            // -c
    bool compressed = false;           // --compressed
    http_version version = http_version::any;

    // Response handling
    bool include = false;             // -i
    bool head = false;                // -I
    bool fail = false;                // -f
    bool location = false;            // -L
    long max_redirs = 50;             // --max-redirs (curl's default)
    std::string dump_header;          // -D
    std::vector<output_arg> outputs;  // -o / -O, matched to urls in order
    std::string write_out;            // -w as given ("@file" is read by main)

    // Connection
    bool insecure = false;                // -k
    std::string cacert;                   // --cacert
    std::string capath;                   // --capath
    std::vector<std::string> resolve;     // --resolve host:port:addr
    std::vector<std::string> connect_to;  // --connect-to h1:p1:h2:p2
    std::string proxy;                    // -x
    std::string noproxy;                  // --noproxy
    long retry = 0;                       // --retry
    double retry_delay = 0;               // --retry-delay; 0 = curl's doubling from 1 s
    double retry_max_time = 0;            // --retry-max-time; 0 = no limit
    bool retry_connrefused = false;       // --retry-connrefused

    // Source control
    std::optional<cx::address> source_ip;  // --source IP[:PORT] or --interface IP (port 0)
    std::optional<cx::prefix> source_pool;  // --source PREFIX/LEN: a source pool (connectx(3))
    uint16_t source_port = 0;              // --source IP:PORT
    std::string interface_name;            // --interface NAME
    std::optional<port_span> local_port;   // --local-port N[-M]
    int family = 0;                        // AF_INET (-4), AF_INET6 (-6), 0 = either

    // Output and time limits; seconds, 0 = none.
    bool verbose = false;     // -v
    bool silent = false;      // -s
    bool show_error = false;  // -S
    double connect_timeout = 0;
    double max_time = 0;
    std::optional<double> idle_timeout;  // tcp:// and udp:// after the input ends

    bool help = false;
    bool version_asked = false;
};

struct parse_outcome {
    cli_args args;
    std::string error;  // empty on success; else a one-line reason (exit status 2)
};

// argv[0] is the program name, as main() receives it.
parse_outcome parse_args(const std::vector<std::string>& argv);

// Pieces, exposed for tests.
std::optional<port_span> parse_port_span(const std::string& text);  // "N" or "N-M"
std::optional<double> parse_seconds(const std::string& text);       // "2", "0.5"

// The text of --help.
const char* usage_text();

}  // namespace cxcli
