// config.hpp - what connectx-exec (or the operator) tells the drop-in, through the environment:
//   CONNECTX_OFF=1          the wrappers pass every call straight to libc
//   CONNECTX_VERBOSE=1      one line per connection on standard error
//   CONNECTX_SOURCE=ADDR[,ADDR]  default source address of client sockets, at most one IPv4 and
//                           one IPv6 (numeric)
//   CONNECTX_PORTS=LO-HI    source port range for the connections connectx makes
// The parsers are pure (tested on strings); read_config() reads the environment once.
#pragma once

#include <netinet/in.h>

#include <cstdint>

namespace cxp {

struct config {
    bool off = false;
    bool verbose = false;
    bool has_v4 = false, has_v6 = false;
    sockaddr_in src_v4{};
    sockaddr_in6 src_v6{};
    uint16_t port_lo = 0, port_hi = 0;  // 0/0: the namespace's range
};

// Each returns 0, or EINVAL with nothing changed in `out`.
int parse_sources(const char* text, config& out) noexcept;  // "10.0.0.1", "10.0.0.1,fd00::1"
int parse_ports(const char* text, config& out) noexcept;    // "40000-40999" or "40000"
int parse_switch(const char* text, bool& out) noexcept;     // "", "0", "1", "yes", "no", ...

// The process's configuration, read from the environment on first use. A bad value is reported
// once on standard error and turns the drop-in off: a program is never run half-configured.
const config& current_config() noexcept;

}  // namespace cxp
