// url.hpp - the three URL forms connectx accepts: http://host[:port]/path, tcp://host:port and
// udp://host:port. Pure parsing; the host is resolved elsewhere.
#pragma once

#include <cstdint>
#include <string>

namespace cxcli {

enum class scheme { http, tcp, udp };

struct url {
    cxcli::scheme scheme = scheme::http;
    std::string host;           // name or IP, without brackets; an IPv6 zone as "fe80::1%eth0"
    bool ipv6_literal = false;  // host was given in brackets
    uint16_t port = 0;          // host order; 80 when an http URL names none
    std::string target;         // http request target ("/path?query"), "/" when empty
};

struct url_outcome {
    cxcli::url url;
    int exit = 0;       // 0, or exit_unsupported_protocol / exit_url_malformed
    std::string error;  // the reason when exit != 0
};

// A URL without "scheme://" is taken as http, as curl does.
url_outcome parse_url(const std::string& text);

// "host", "[v6]" and ":port" when it is not the default: the value of an HTTP Host header.
std::string host_header(const url& u);

const char* scheme_name(scheme s);

}  // namespace cxcli
