// url.hpp - the raw-stream URLs, tcp://host:port and udp://host:port, taken apart by libcurl's
// URL parser (curl_url, which accepts schemes it does not speak), and the check of an IPv6
// zone that every URL gets before anything is sent.
#pragma once

#include <cstdint>
#include <string>

namespace cxcli {

struct stream_url {
    bool udp = false;
    std::string host;  // name or IP without brackets; an IPv6 zone as "fe80::1%eth0"
    uint16_t port = 0;
};

struct stream_url_outcome {
    stream_url url;
    int exit = 0;       // 0, or exit_url_malformed
    std::string error;  // the reason when exit != 0
};

// Whether `text` starts with tcp:// or udp:// (any case).
bool is_stream_url(const std::string& text);

stream_url_outcome parse_stream_url(const std::string& text);

// One part of `url` as libcurl's parser sees it (a scheme-less URL is taken as http), or ""
// when the URL does not parse or lacks the part: CURLUPART_HOST, CURLUPART_PATH, ...
std::string url_part(const std::string& url, int which);

// "" when the URL has no IPv6 zone or its zone names an interface (or is a number); else the
// reason, for exit status 3. libcurl and getaddrinfo would both call it "could not resolve".
std::string check_zone(const std::string& url);

}  // namespace cxcli
