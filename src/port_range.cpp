// port_range.cpp - parsers for the port-range sysctls and the reserved-ports bitmap.
#include "port_range.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <new>
#include <vector>

#include "sys.hpp"

namespace cx::detail {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n'; }

// Parses a decimal port 0..65535 at text[pos], advancing pos. False if none or out of range.
bool parse_port(std::string_view text, size_t& pos, uint16_t& out) {
    uint32_t v = 0;
    size_t start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
        v = v * 10 + uint32_t(text[pos] - '0');
        if (v > 65535) return false;
        ++pos;
    }
    if (pos == start) return false;
    out = uint16_t(v);
    return true;
}

void skip_space(std::string_view text, size_t& pos) {
    while (pos < text.size() && is_space(text[pos])) ++pos;
}

}  // namespace

std::optional<port_span> intersect(port_span a, port_span b) noexcept {
    port_span r{std::max(a.lo, b.lo), std::min(a.hi, b.hi)};
    if (r.lo > r.hi) return std::nullopt;
    return r;
}

std::optional<port_span> narrow_by_socket_range(port_span want, port_span system,
                                                uint32_t sock_range) noexcept {
    const uint16_t lo = uint16_t(sock_range & 0xffff), hi = uint16_t(sock_range >> 16);
    if (lo && system.contains(lo)) want.lo = std::max(want.lo, lo);
    if (hi && system.contains(hi)) want.hi = std::min(want.hi, hi);
    if (want.lo > want.hi) return std::nullopt;
    return want;
}

std::optional<port_span> parse_port_range(std::string_view text) noexcept {
    size_t pos = 0;
    port_span r;
    skip_space(text, pos);
    if (!parse_port(text, pos, r.lo)) return std::nullopt;
    size_t before = pos;
    skip_space(text, pos);
    if (pos == before || !parse_port(text, pos, r.hi)) return std::nullopt;
    skip_space(text, pos);
    if (pos != text.size() || r.lo == 0 || r.lo > r.hi) return std::nullopt;
    return r;
}

void reserved_ports::set(uint16_t lo, uint16_t hi) noexcept {
    for (uint32_t p = lo; p <= hi;) {
        uint32_t word = p >> 6, bit = p & 63;
        uint32_t n = std::min<uint32_t>(64 - bit, uint32_t(hi) - p + 1);
        uint64_t mask = n == 64 ? ~uint64_t{0} : ((uint64_t{1} << n) - 1) << bit;
        bits_[word] |= mask;
        p += n;
    }
}

bool reserved_ports::empty() const noexcept {
    return std::all_of(bits_.begin(), bits_.end(), [](uint64_t w) { return w == 0; });
}

uint32_t reserved_ports::count(port_span span) const noexcept {
    uint32_t n = 0;
    for (uint32_t p = span.lo; p <= span.hi && span.lo <= span.hi;) {
        uint32_t word = p >> 6, bit = p & 63;
        uint32_t k = std::min<uint32_t>(64 - bit, uint32_t(span.hi) - p + 1);
        uint64_t mask = k == 64 ? ~uint64_t{0} : ((uint64_t{1} << k) - 1) << bit;
        n += uint32_t(std::popcount(bits_[word] & mask));
        p += k;
    }
    return n;
}

bool reserved_ports::parse(std::string_view text) noexcept {
    clear();
    size_t pos = 0;
    skip_space(text, pos);
    if (pos == text.size()) return true;  // nothing reserved
    for (;;) {
        uint16_t lo, hi;
        if (!parse_port(text, pos, lo)) break;
        hi = lo;
        if (pos < text.size() && text[pos] == '-') {
            ++pos;
            if (!parse_port(text, pos, hi) || hi < lo) break;
        }
        set(lo, hi);
        if (pos < text.size() && text[pos] == ',') {
            ++pos;
            continue;
        }
        skip_space(text, pos);
        if (pos == text.size()) return true;
        break;
    }
    clear();
    return false;
}

int read_whole(int fd, char* buf, size_t cap, size_t& len) noexcept {
    // One pread from offset 0, never a second one further on: procfs bitmap sysctls such as
    // ip_local_reserved_ports answer a read at a non-zero offset with EOF, so a long list read
    // in pieces would silently lose its tail. A buffer filled to the brim may be cut short.
    len = 0;
    if (cap < 2) return EOVERFLOW;
    ssize_t n;
    while ((n = ::pread(fd, buf, cap - 1, 0)) < 0 && errno == EINTR) {
    }
    if (n < 0) return errno;
    if (size_t(n) == cap - 1) return EOVERFLOW;
    len = size_t(n);
    buf[len] = '\0';
    return 0;
}

namespace {
// Reads /proc<rel> into buf. Returns 0 or an errno.
int read_proc(const char* proc_root, const char* rel, char* buf, size_t cap, size_t& len) {
    char path[256];
    std::snprintf(path, sizeof path, "%s%s", proc_root, rel);
    unique_fd fd(::open(path, O_RDONLY | O_CLOEXEC));
    if (!fd) return errno;
    return read_whole(fd.get(), buf, cap, len);
}
}  // namespace

int read_port_range(port_span& out, const char* proc_root) noexcept {
    char buf[64];
    size_t len;
    if (int e = read_proc(proc_root, kPortRangePath, buf, sizeof buf, len)) return e;
    auto r = parse_port_range({buf, len});
    if (!r) return EPROTO;
    out = *r;
    return 0;
}

int read_reserved_ports(reserved_ports& out, const char* proc_root) noexcept {
    // Usually empty or short: a stack buffer. The list can be long (up to ~190 KB for every
    // other port reserved), so a longer one is read into a heap buffer that grows as needed.
    char small[4096];
    size_t len;
    int e = read_proc(proc_root, kReservedPortsPath, small, sizeof small, len);
    if (e == 0) return out.parse({small, len}) ? 0 : EPROTO;
    if (e != EOVERFLOW) return e;
    try {
        std::vector<char> big(size_t{1} << 16);
        for (;;) {
            e = read_proc(proc_root, kReservedPortsPath, big.data(), big.size(), len);
            if (e != EOVERFLOW || big.size() >= (size_t{1} << 22)) break;
            big.resize(big.size() * 2);
        }
        if (e) return e;
        return out.parse({big.data(), len}) ? 0 : EPROTO;
    } catch (const std::bad_alloc&) {
        return ENOMEM;
    }
}

uint32_t random_below(uint32_t n) noexcept {
    static thread_local uint64_t state = [] {
        uint64_t seed = 0;
        while (getrandom(&seed, sizeof seed, 0) < 0 && errno == EINTR) {
        }
        return seed | 1;
    }();
    // xorshift64*: fast, and good enough to spread search start points.
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    uint64_t r = state * 0x2545F4914F6CDD1DULL;
    return uint32_t(((r >> 32) * uint64_t(n)) >> 32);
}

}  // namespace cx::detail
