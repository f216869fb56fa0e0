// netns.hpp - the private network namespace each scenario runs in: entering it, its sysctls, its
// loopback and addresses. Nothing here touches the namespace the tool was started in.
#pragma once

#include <string>

#include "stress.hpp"
#include "techniques.hpp"

namespace cxstress {

// Moves the calling process into a new network namespace: directly when it may (root), else
// inside a new user namespace that maps the caller to root. Returns 0 or an errno; `how` says
// which way worked ("root" or "user namespace").
int enter_private_netns(std::string& how);

// Sets up the namespace just entered for `cfg`: lo up, ip_local_port_range, somaxconn at least
// `backlog`, and the source and destination addresses (IPv6 ones are added to lo; IPv4 ones are
// in 127/8, which lo already owns). Fills `ep`. Returns 0 or an errno and says what failed in
// `what`.
int set_up_netns(const config& cfg, int backlog, endpoints& ep, std::string& what);

// Addresses of the namespace: source 127.0.0.1 or 2001:db8::1, destination i (0-based)
// 127.0.1.1 + i or 2001:db8::1:0 + i + 1.
cx::address source_address(int family) noexcept;
// Source `index` (0-based) of --sources N: 127.0.0.1 + index, or 2001:db8::1 + index.
cx::address pool_address(int family, int index) noexcept;
cx::address destination_address(int family, int index) noexcept;

// Writes a sysctl of the calling process's namespace ("net/core/somaxconn"). 0 or an errno.
int write_sysctl(const char* rel, const std::string& value);

}  // namespace cxstress
