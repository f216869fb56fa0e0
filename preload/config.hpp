// config.hpp - what connectx-exec (or the operator) tells the drop-in, through the environment:
//   CONNECTX_OFF=1          the wrappers pass every call straight to libc
//   CONNECTX_VERBOSE=1      one line per connection on standard error
//   CONNECTX_SOURCE=ADDR[,ADDR]  default source address of client sockets, at most one IPv4 and
//                           one IPv6 (numeric)
//   CONNECTX_PORTS=LO-HI    source port range for the connections connectx makes
//   CONNECTX_POOL=PREFIX[,PREFIX]  a source pool (connectx(3), "Source pools") for client sockets
//                           that do not bind: at most one IPv4 and one IPv6 prefix, in place of
//                           CONNECTX_SOURCE for its family
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
    // Pools: the prefix's network address and length; length 0 = no pool of that family.
    sockaddr_in pool_v4{};
    uint8_t pool_v4_len = 0;
    sockaddr_in6 pool_v6{};
    uint8_t pool_v6_len = 0;
};

// Each returns 0, or EINVAL with nothing changed in `out`.
int parse_sources(const char* text, config& out) noexcept;  // "10.0.0.1", "10.0.0.1,fd00::1"
int parse_ports(const char* text, config& out) noexcept;    // "40000-40999" or "40000"
int parse_switch(const char* text, bool& out) noexcept;     // "", "0", "1", "yes", "no", ...
// "10.0.0.0/29", "10.0.0.0/29,fd00::/120": host bits zero, a prefix of at most 65,536 addresses
// (connectx(3)); at most one per family, none of a family CONNECTX_SOURCE already names.
int parse_pools(const char* text, config& out) noexcept;

// The process's configuration, read from the environment on first use. A bad value is reported
// once on standard error and turns the drop-in off: a program is never run half-configured.
const config& current_config() noexcept;

}  // namespace cxp
