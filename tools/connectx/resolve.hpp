// resolve.hpp - what the client asks the system about names and addresses for tcp:// and udp://
// (libcurl resolves for http and https): host names (getaddrinfo), interface names, and whether
// an address is this host's. The library itself never resolves names.
#pragma once

#include <connectx/connectx.hpp>
#include <optional>
#include <string>
#include <vector>

namespace cxcli {

struct resolve_outcome {
    std::vector<cx::address> addresses;  // in getaddrinfo's order, duplicates removed
    std::string error;                   // gai_strerror text when empty
};

// `family` AF_INET, AF_INET6 or 0; `socktype` SOCK_STREAM or SOCK_DGRAM.
resolve_outcome resolve_host(const std::string& host, uint16_t port, int family, int socktype);

// Index of interface `name`, 0 when there is none.
int interface_index(const std::string& name);

// Whether `ip` is an address of this host (getifaddrs; all of 127/8). The routing table's
// choice of source is the library's to tell: cx::source_for().
bool is_local_address(const cx::address& ip);

}  // namespace cxcli
