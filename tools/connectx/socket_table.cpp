// socket_table.cpp - lookups in /proc/net/{tcp,udp}[6]. The kernel prints each address as the
// raw 32-bit words of the address in hex, in host byte order ("0100007F" is 127.0.0.1 on a
// little-endian machine), then ":" and the port in hex: format ours the same way and compare text.
#include "socket_table.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iterator>

#include "io.hpp"

namespace cxcli {
namespace {

std::string proc_key(const cx::address& a) {
    char buf[64];
    int n = 0;
    if (a.family() == AF_INET) {
        uint32_t word;
        std::memcpy(&word, &reinterpret_cast<const sockaddr_in*>(a.sa())->sin_addr, 4);
        n = std::snprintf(buf, sizeof buf, "%08X", word);
    } else {
        const uint8_t* bytes = reinterpret_cast<const sockaddr_in6*>(a.sa())->sin6_addr.s6_addr;
        for (int i = 0; i < 4; ++i) {
            uint32_t word;
            std::memcpy(&word, bytes + 4 * i, 4);
            n += std::snprintf(buf + n, sizeof buf - size_t(n), "%08X", word);
        }
    }
    std::snprintf(buf + n, sizeof buf - size_t(n), ":%04X", a.port());
    return buf;
}

// The next whitespace-separated field of `line`.
std::string_view next_field(std::string_view& line) {
    size_t start = line.find_first_not_of(' ');
    if (start == std::string_view::npos) {
        line = {};
        return {};
    }
    line.remove_prefix(start);
    size_t end = line.find(' ');
    std::string_view field = line.substr(0, end);
    line.remove_prefix(end == std::string_view::npos ? line.size() : end);
    return field;
}

std::optional<int> hex_value(std::string_view s) {
    int v = 0;
    for (char c : s) {
        int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (digit < 0) return std::nullopt;
        v = v * 16 + digit;
    }
    return v;
}

// Calls fn(local, remote, state) with the first three address fields of each line of a table;
// stops when fn returns true.
template <typename Fn>
void for_each_socket(std::string_view table, Fn fn) {
    while (!table.empty()) {
        size_t nl = table.find('\n');
        std::string_view line = table.substr(0, nl);
        table.remove_prefix(nl == std::string_view::npos ? table.size() : nl + 1);
        next_field(line);  // "sl"
        std::string_view l = next_field(line), r = next_field(line), st = next_field(line);
        if (!st.empty() && st.size() <= 2 && fn(l, r, st)) return;
    }
}

const char* table_path(int socktype, int family) {
    if (socktype == SOCK_DGRAM) return family == AF_INET ? "/proc/net/udp" : "/proc/net/udp6";
    return family == AF_INET ? "/proc/net/tcp" : "/proc/net/tcp6";
}

}  // namespace

std::vector<uint16_t> find_local_ports(std::string_view table, const cx::address& local_ip,
                                       uint16_t lo, uint16_t hi, const cx::address& remote,
                                       int state) {
    std::vector<uint16_t> ports;
    std::string ip_key = proc_key(local_ip);
    ip_key.resize(ip_key.find(':') + 1);  // the address and its ':'
    const std::string want_remote = proc_key(remote);
    for_each_socket(table, [&](std::string_view l, std::string_view r, std::string_view st) {
        if (r != want_remote || l.substr(0, ip_key.size()) != ip_key) return false;
        auto port = hex_value(l.substr(ip_key.size()));
        if (hex_value(st) == state && port && *port >= lo && *port <= hi)
            ports.push_back(uint16_t(*port));
        return false;
    });
    return ports;
}

std::vector<uint16_t> tcp_local_ports(const cx::address& local_ip, uint16_t lo, uint16_t hi,
                                      const cx::address& remote, int state) {
    std::string text;
    if (read_file(table_path(SOCK_STREAM, local_ip.family()), text) != 0) return {};
    return find_local_ports(text, local_ip, lo, hi, remote, state);
}

std::optional<int> find_socket_state(std::string_view table, const cx::address& local,
                                     const cx::address& remote) {
    const std::string want_local = proc_key(local), want_remote = proc_key(remote);
    std::optional<int> state;
    for_each_socket(table, [&](std::string_view l, std::string_view r, std::string_view st) {
        if (l != want_local || r != want_remote) return false;
        state = hex_value(st);
        return true;
    });
    return state;
}

std::optional<int> socket_state(int socktype, const cx::address& local, const cx::address& remote) {
    std::string text;
    if (read_file(table_path(socktype, local.family()), text) != 0) return std::nullopt;
    return find_socket_state(text, local, remote);
}

std::string tcp_state_name(int state) {
    static constexpr const char* kNames[] = {
        nullptr,     "ESTABLISHED", "SYN_SENT",   "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
        "TIME_WAIT", "CLOSE",       "CLOSE_WAIT", "LAST_ACK", "LISTEN",    "CLOSING",
    };
    if (state > 0 && state < int(std::size(kNames))) return kNames[state];
    return "state " + std::to_string(state);
}

}  // namespace cxcli
