// port_range.hpp - the namespace's ephemeral port range and reserved ports: pure parsers for the
// text of /proc/sys/net/ipv4/ip_local_port_range and ip_local_reserved_ports, a bitmap of reserved
// ports, and a small reader. Parsers take bytes and never touch the system, so tests and fuzzers
// feed them directly.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace cx::detail {

struct port_span {
    uint16_t lo = 0;  // inclusive
    uint16_t hi = 0;  // inclusive
    uint32_t size() const noexcept { return hi >= lo ? uint32_t(hi) - lo + 1 : 0; }
    bool contains(uint16_t p) const noexcept { return p >= lo && p <= hi; }
    friend bool operator==(port_span, port_span) = default;
};

// Intersection of two spans; nullopt when they do not overlap.
std::optional<port_span> intersect(port_span a, port_span b) noexcept;

// `want` narrowed by a socket's IP_LOCAL_PORT_RANGE (`sock_range`: lo in the low 16 bits, hi in
// the high; 0 = unset), as the kernel applies it: each bound counts only when it lies inside the
// namespace's range `system`. nullopt when nothing is left.
std::optional<port_span> narrow_by_socket_range(port_span want, port_span system,
                                                uint32_t sock_range) noexcept;

// "32768\t60999\n" -> {32768, 60999}. nullopt when malformed or lo > hi or a bound is 0.
std::optional<port_span> parse_port_range(std::string_view text) noexcept;

// One bit per port, set = reserved (never picked automatically).
class reserved_ports {
public:
    bool test(uint16_t port) const noexcept { return (bits_[port >> 6] >> (port & 63)) & 1; }
    // Ports 64*i .. 64*i+63, bit k = port 64*i+k (i < 1024): for word-at-a-time searches.
    uint64_t word(size_t i) const noexcept { return bits_[i]; }
    void set(uint16_t lo, uint16_t hi) noexcept;
    void clear() noexcept { bits_.fill(0); }
    bool empty() const noexcept;
    // Number of reserved ports within `span`.
    uint32_t count(port_span span) const noexcept;
    // Parses "1,2-4,10-10\n" (the kernel's format: comma list of ports and inclusive ranges,
    // possibly empty). Returns false, leaving the set cleared, when the text is malformed.
    bool parse(std::string_view text) noexcept;
    friend bool operator==(const reserved_ports&, const reserved_ports&) = default;

private:
    std::array<uint64_t, 65536 / 64> bits_{};
};

// Paths of the two sysctls, relative to a root that tests may redirect ("/proc" by default).
inline constexpr const char* kPortRangePath = "/sys/net/ipv4/ip_local_port_range";
inline constexpr const char* kReservedPortsPath = "/sys/net/ipv4/ip_local_reserved_ports";

// pread()s the whole of `fd` from offset 0 into buf (NUL-terminated), in one read: procfs bitmap
// sysctls return EOF to reads at other offsets. Returns 0 or an errno; EOVERFLOW when the content
// fills the buffer (it may not all fit: retry with a larger one).
int read_whole(int fd, char* buf, size_t cap, size_t& len) noexcept;

// Reads the calling thread's namespace's ip_local_port_range (/proc shows the opener's
// namespace). Returns 0 or an errno (EPROTO when the content is malformed).
int read_port_range(port_span& out, const char* proc_root = "/proc") noexcept;

// Reads the calling thread's namespace's ip_local_reserved_ports into `out`.
int read_reserved_ports(reserved_ports& out, const char* proc_root = "/proc") noexcept;
// A uniformly distributed number in [0, n), n > 0, from a per-thread generator seeded once from
// the kernel. Where a search starts in a range: not a secret, but not predictable by a peer.
uint32_t random_below(uint32_t n) noexcept;
}  // namespace cx::detail
