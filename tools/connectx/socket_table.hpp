// socket_table.hpp - what the kernel's /proc/net/{tcp,tcp6,udp,udp6} tables say about one
// 4-tuple, so an "already in use" error can tell TIME_WAIT from ESTABLISHED. Error path only.
#pragma once

#include <connectx/connectx.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace cxcli {

// The "st" column of the line whose local and remote ends are exactly `local` and `remote`, in
// a table's text; nullopt when no line matches.
std::optional<int> find_socket_state(std::string_view table, const cx::address& local,
                                     const cx::address& remote);

// The table of this namespace for `socktype` (SOCK_STREAM, SOCK_DGRAM) and the tuple's family.
std::optional<int> socket_state(int socktype, const cx::address& local, const cx::address& remote);

constexpr int kTcpTimeWait = 6;  // the kernel's TCP_TIME_WAIT

// "ESTABLISHED", "TIME_WAIT", ... for a TCP state number; "state N" for others.
std::string tcp_state_name(int state);

}  // namespace cxcli
