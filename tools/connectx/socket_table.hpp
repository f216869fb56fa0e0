// socket_table.hpp - what the kernel's /proc/net/{tcp,tcp6,udp,udp6} tables say about one
// 4-tuple, so an "already in use" error can tell TIME_WAIT from ESTABLISHED. Error path only.
#pragma once

#include <connectx/connectx.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cxcli {

// The "st" column of the line whose local and remote ends are exactly `local` and `remote`, in
// a table's text; nullopt when no line matches.
std::optional<int> find_socket_state(std::string_view table, const cx::address& local,
                                     const cx::address& remote);

// The table of this namespace for `socktype` (SOCK_STREAM, SOCK_DGRAM) and the tuple's family.
std::optional<int> socket_state(int socktype, const cx::address& local, const cx::address& remote);

// Local ports in lo..hi of the lines from `local_ip` to exactly `remote` in `state`, in the
// table's order.
std::vector<uint16_t> find_local_ports(std::string_view table, const cx::address& local_ip,
                                       uint16_t lo, uint16_t hi, const cx::address& remote,
                                       int state);

// The same over this namespace's TCP table for the tuple's family.
std::vector<uint16_t> tcp_local_ports(const cx::address& local_ip, uint16_t lo, uint16_t hi,
                                      const cx::address& remote, int state);

constexpr int kTcpTimeWait = 6;  // the kernel's TCP_TIME_WAIT

// "ESTABLISHED", "TIME_WAIT", ... for a TCP state number; "state N" for others.
std::string tcp_state_name(int state);

}  // namespace cxcli
