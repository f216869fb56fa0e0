// connector.hpp - opening the connection: one socket per candidate address, connectx() with the
// source the user pinned, a bounded wait for the TCP handshake, and errors that name the 4-tuple.
#pragma once

#include <connectx/connectx.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli_args.hpp"
#include "io.hpp"

namespace cxcli {

// The source part of the 4-tuple as the user pinned it.
struct source_spec {
    std::optional<cx::address> ip;   // port 0
    std::optional<cx::prefix> pool;  // --source PREFIX: connectx() picks the source
    uint16_t port = 0;               // fixed source port, 0 = none
    std::optional<port_span> range;  // a range of more than one port
    int ifindex = 0;
    std::string ifname;

    bool any() const noexcept { return ip || pool || port || range || ifindex; }
};

struct connect_request {
    std::string host;                     // as the user wrote it, for messages
    std::vector<cx::address> candidates;  // resolved, in order of preference
    int socktype = 0;                     // SOCK_STREAM or SOCK_DGRAM
    source_spec source;
    deadline until;                        // earliest of --connect-timeout and -m
    bool until_is_connect_timeout = true;  // which of the two `until` is, for the message
    clock::time_point start;               // for "after N ms"
    bool verbose = false;
    bool trace_trying = true;  // "*   Trying": libcurl prints its own
};

struct connection {
    unique_fd fd;  // connected, non-blocking
    cx::address local;
    cx::address remote;
    uint32_t technique = CONNECTX_TECH_NONE;
    uint32_t attempts = 0;
    uint32_t lookups = 0;
};

struct connect_outcome {
    connection conn;    // valid when exit == 0
    int exit = 0;       // exit_code
    std::string error;  // the reason when exit != 0
};

// tcp:// and udp://: a socket per candidate address, in order, until one connects.
connect_outcome open_connection(const connect_request& req);

// Connects the unbound, non-blocking socket `fd` (of dst's family and req.socktype) to `dst`
// with connectx() and the source req pins, waiting for the TCP handshake until req.until. The
// caller keeps `fd`: on success conn.fd stays empty and the socket is connected (possibly a
// replacement dup2()ed onto the same number); on failure exit and error say why.
connect_outcome connect_socket(int fd, const connect_request& req, cx::address dst);

}  // namespace cxcli
