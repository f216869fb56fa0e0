// config.cpp - parse the CONNECTX_* environment variables.
#include "config.hpp"

#include <arpa/inet.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace cxp {
namespace {

// One comma-separated item, copied into a bounded buffer (no allocation).
bool next_item(const char*& p, char (&buf)[64]) noexcept {
    if (*p == '\0') return false;
    const char* end = std::strchr(p, ',');
    size_t n = end ? size_t(end - p) : std::strlen(p);
    if (n >= sizeof buf) n = sizeof buf - 1;  // too long for an address: inet_pton refuses it
    std::memcpy(buf, p, n);
    buf[n] = '\0';
    p = end ? end + 1 : p + std::strlen(p);
    return true;
}

bool parse_port(const char* s, const char* end, uint16_t& out) noexcept {
    if (s == end || end - s > 5) return false;
    unsigned v = 0;
    for (; s != end; ++s) {
        if (*s < '0' || *s > '9') return false;
        v = v * 10 + unsigned(*s - '0');
    }
    if (v == 0 || v > 65535) return false;
    out = uint16_t(v);
    return true;
}

void report_bad(const char* name, const char* value) noexcept {
    char line[256];
    int n = std::snprintf(line, sizeof line,
                          "connectx-preload: %s=%s is not valid (see connectx-exec(1)); "
                          "the drop-in is off for this process\n",
                          name, value);
    if (n > 0) (void)!write(2, line, size_t(n) < sizeof line ? size_t(n) : sizeof line - 1);
}

config read_config() noexcept {
    config c;
    struct item {
        const char* name;
        int (*parse)(const char*, config&) noexcept;
    };
    static constexpr item items[] = {
        {"CONNECTX_OFF", [](const char* t, config& o) noexcept { return parse_switch(t, o.off); }},
        {"CONNECTX_VERBOSE",
         [](const char* t, config& o) noexcept { return parse_switch(t, o.verbose); }},
        {"CONNECTX_SOURCE", parse_sources},
        {"CONNECTX_PORTS", parse_ports},
        {"CONNECTX_POOL", parse_pools},  // after CONNECTX_SOURCE: it checks the families
    };
    for (const item& it : items) {
        const char* v = std::getenv(it.name);
        if (v && it.parse(v, c) != 0) {
            report_bad(it.name, v);
            config off;
            off.off = true;
            return off;
        }
    }
    return c;
}

}  // namespace

int parse_sources(const char* text, config& out) noexcept {
    config c = out;
    c.has_v4 = c.has_v6 = false;
    char buf[64];
    const char* p = text;
    while (next_item(p, buf)) {
        in_addr a4;
        in6_addr a6;
        if (inet_pton(AF_INET, buf, &a4) == 1 && !c.has_v4) {
            c.src_v4 = sockaddr_in{};
            c.src_v4.sin_family = AF_INET;
            c.src_v4.sin_addr = a4;
            c.has_v4 = true;
        } else if (inet_pton(AF_INET6, buf, &a6) == 1 && !c.has_v6 && !IN6_IS_ADDR_V4MAPPED(&a6)) {
            c.src_v6 = sockaddr_in6{};
            c.src_v6.sin6_family = AF_INET6;
            c.src_v6.sin6_addr = a6;
            c.has_v6 = true;
        } else {
            return EINVAL;  // not numeric, a mapped address, or a second of one family
        }
    }
    if (!c.has_v4 && !c.has_v6 && *text != '\0') return EINVAL;
    out = c;
    return 0;
}

namespace {

// "IP/LEN" into `bytes` (4 or 16) and `len`; the family or 0 when malformed, the length out of
// range (a pool holds at most 2^16 addresses) or host bits are set.
int parse_prefix(const char* item, uint8_t (&bytes)[16], uint8_t& len) noexcept {
    char ip[64];
    const char* slash = std::strchr(item, '/');
    if (!slash || size_t(slash - item) >= sizeof ip) return 0;
    std::memcpy(ip, item, size_t(slash - item));
    ip[slash - item] = '\0';
    int family = inet_pton(AF_INET, ip, bytes) == 1    ? AF_INET
                 : inet_pton(AF_INET6, ip, bytes) == 1 ? AF_INET6
                                                       : 0;
    const int bits = family == AF_INET ? 32 : 128;
    uint16_t v = 0;
    if (!family || !parse_port(slash + 1, slash + 1 + std::strlen(slash + 1), v)) return 0;
    if (v > bits || bits - v > 16) return 0;
    for (int b = v; b < bits; ++b)
        if (bytes[b / 8] & (0x80 >> (b % 8))) return 0;
    if (family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(reinterpret_cast<in6_addr*>(bytes))) return 0;
    len = uint8_t(v);
    return family;
}

}  // namespace

int parse_pools(const char* text, config& out) noexcept {
    config c = out;
    c.pool_v4_len = c.pool_v6_len = 0;
    char buf[64];
    const char* p = text;
    while (next_item(p, buf)) {
        uint8_t bytes[16] = {};
        uint8_t len = 0;
        int family = parse_prefix(buf, bytes, len);
        if (family == AF_INET && !c.pool_v4_len && !c.has_v4) {
            c.pool_v4 = sockaddr_in{};
            c.pool_v4.sin_family = AF_INET;
            std::memcpy(&c.pool_v4.sin_addr, bytes, 4);
            c.pool_v4_len = len;
        } else if (family == AF_INET6 && !c.pool_v6_len && !c.has_v6) {
            c.pool_v6 = sockaddr_in6{};
            c.pool_v6.sin6_family = AF_INET6;
            std::memcpy(&c.pool_v6.sin6_addr, bytes, 16);
            c.pool_v6_len = len;
        } else {
            return EINVAL;  // malformed, a second of one family, or a family with a source
        }
    }
    if (!c.pool_v4_len && !c.pool_v6_len && *text != '\0') return EINVAL;
    out = c;
    return 0;
}

int parse_ports(const char* text, config& out) noexcept {
    if (*text == '\0') {
        out.port_lo = out.port_hi = 0;
        return 0;
    }
    const char* dash = std::strchr(text, '-');
    const char* end = text + std::strlen(text);
    uint16_t lo, hi;
    if (!parse_port(text, dash ? dash : end, lo)) return EINVAL;
    hi = lo;
    if (dash && !parse_port(dash + 1, end, hi)) return EINVAL;
    if (lo > hi) return EINVAL;
    out.port_lo = lo;
    out.port_hi = hi;
    return 0;
}

int parse_switch(const char* text, bool& out) noexcept {
    static constexpr const char* yes[] = {"1", "yes", "true", "on"};
    static constexpr const char* no[] = {"", "0", "no", "false", "off"};
    for (const char* y : yes)
        if (std::strcmp(text, y) == 0) return out = true, 0;
    for (const char* n : no)
        if (std::strcmp(text, n) == 0) return out = false, 0;
    return EINVAL;
}

const config& current_config() noexcept {
    static const config c = read_config();  // thread-safe static initialisation, no heap
    return c;
}

}  // namespace cxp
