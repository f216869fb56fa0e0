// resolve.hpp - everything the client asks the system about names and addresses: host names
// (getaddrinfo), interface names, and which source address the routing table would pick. The
// library itself never resolves names.
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

// The source address the kernel would use toward `dst` (optionally through interface
// `ifindex`), found with a connected UDP socket that sends nothing.
std::optional<cx::address> route_source(const cx::address& dst, int ifindex);

// Whether `ip` is an address of this host (bind(ip, 0) works).
bool is_local_address(const cx::address& ip);

}  // namespace cxcli
