// address.cpp - connectx::address: numeric IPv4/IPv6 socket addresses, parsed and printed
// without ever resolving a name. Scope ids may be interface names or indexes.
#include <arpa/inet.h>
#include <net/if.h>

#include <cerrno>
#include <algorithm>
#include <cstdio>
#include <connectx/connectx.hpp>

namespace cx {
namespace {

sockaddr_in* v4p(sockaddr_storage& ss) { return reinterpret_cast<sockaddr_in*>(&ss); }
sockaddr_in6* v6p(sockaddr_storage& ss) { return reinterpret_cast<sockaddr_in6*>(&ss); }
const sockaddr_in* v4p(const sockaddr_storage& ss) {
    return reinterpret_cast<const sockaddr_in*>(&ss);
}
const sockaddr_in6* v6p(const sockaddr_storage& ss) {
    return reinterpret_cast<const sockaddr_in6*>(&ss);
}

bool parse_u32(std::string_view s, uint32_t max, uint32_t& out) {
    if (s.empty() || s.size() > 10) return false;
    uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + uint64_t(c - '0');
    }
    if (v > max) return false;
    out = uint32_t(v);
    return true;
}

std::error_code einval() { return errno_code(EINVAL); }

}  // namespace

result<address> address::parse(std::string_view text, uint16_t default_port) noexcept {
    std::string_view host = text, port_text;
    bool bracketed = false;
    if (!text.empty() && text.front() == '[') {
        size_t close = text.find(']');
        if (close == std::string_view::npos) return einval();
        host = text.substr(1, close - 1);
        std::string_view rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':' || rest.size() < 2) return einval();
            port_text = rest.substr(1);
        }
        bracketed = true;
    } else if (size_t colon = text.find(':');
               colon != std::string_view::npos && text.find(':', colon + 1) == std::string_view::npos) {
        host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
        if (port_text.empty()) return einval();
    }

    uint32_t port = default_port;
    if (!port_text.empty() && !parse_u32(port_text, 65535, port)) return einval();

    std::string_view scope;
    if (size_t pct = host.find('%'); pct != std::string_view::npos) {
        scope = host.substr(pct + 1);
        host = host.substr(0, pct);
        if (scope.empty() || scope.size() >= IF_NAMESIZE) return einval();
    }
    char buf[INET6_ADDRSTRLEN];
    if (host.empty() || host.size() >= sizeof buf) return einval();
    host.copy(buf, host.size());
    buf[host.size()] = '\0';

    address a;
    if (!bracketed && scope.empty() && inet_pton(AF_INET, buf, &v4p(a.ss_)->sin_addr) == 1) {
        a.ss_.ss_family = AF_INET;
        a.set_port(uint16_t(port));
        return a;
    }
    if (inet_pton(AF_INET6, buf, &v6p(a.ss_)->sin6_addr) != 1) return einval();
    a.ss_.ss_family = AF_INET6;
    a.set_port(uint16_t(port));
    if (!scope.empty()) {
        uint32_t idx;
        if (!parse_u32(scope, UINT32_MAX, idx)) {
            char name[IF_NAMESIZE];
            scope.copy(name, scope.size());
            name[scope.size()] = '\0';
            idx = if_nametoindex(name);
            if (idx == 0) return einval();
        }
        v6p(a.ss_)->sin6_scope_id = idx;
    }
    return a;
}

result<address> address::from_sockaddr(const sockaddr* sa, socklen_t len) noexcept {
    if (!sa || len < socklen_t(sizeof(sa_family_t))) return einval();
    address a;
    if (sa->sa_family == AF_INET) {
        if (len < socklen_t(sizeof(sockaddr_in))) return einval();
        std::memcpy(&a.ss_, sa, sizeof(sockaddr_in));
    } else if (sa->sa_family == AF_INET6) {
        if (len < socklen_t(sizeof(sockaddr_in6))) return einval();
        std::memcpy(&a.ss_, sa, sizeof(sockaddr_in6));
        v6p(a.ss_)->sin6_flowinfo = 0;
    } else {
        return errno_code(EAFNOSUPPORT);
    }
    return a;
}

address address::v4(uint32_t host_order_ip, uint16_t port) noexcept {
    address a;
    a.ss_.ss_family = AF_INET;
    v4p(a.ss_)->sin_addr.s_addr = htonl(host_order_ip);
    a.set_port(port);
    return a;
}

uint16_t address::port() const noexcept {
    if (family() == AF_INET) return ntohs(v4p(ss_)->sin_port);
    if (family() == AF_INET6) return ntohs(v6p(ss_)->sin6_port);
    return 0;
}

void address::set_port(uint16_t port) noexcept {
    if (family() == AF_INET) v4p(ss_)->sin_port = htons(port);
    else if (family() == AF_INET6) v6p(ss_)->sin6_port = htons(port);
}

uint32_t address::scope_id() const noexcept {
    return family() == AF_INET6 ? v6p(ss_)->sin6_scope_id : 0;
}

// The IPv4 address an AF_INET address or an IPv4-mapped one stands for (network order).
static bool v4_of(const sockaddr_storage& ss, uint32_t& out) {
    if (ss.ss_family == AF_INET) {
        out = v4p(ss)->sin_addr.s_addr;
        return true;
    }
    if (ss.ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&v6p(ss)->sin6_addr)) {
        std::memcpy(&out, v6p(ss)->sin6_addr.s6_addr + 12, 4);
        return true;
    }
    return false;
}

bool address::is_wildcard() const noexcept {
    // ::ffff:0.0.0.0 is the IPv4 wildcard to a dual-stack socket: bind(2) takes it as INADDR_ANY.
    if (uint32_t v4; v4_of(ss_, v4)) return v4 == INADDR_ANY;
    if (family() == AF_INET6) return IN6_IS_ADDR_UNSPECIFIED(&v6p(ss_)->sin6_addr);
    return true;
}

bool address::is_multicast() const noexcept {
    if (uint32_t v4; v4_of(ss_, v4)) return IN_MULTICAST(ntohl(v4));
    return family() == AF_INET6 && IN6_IS_ADDR_MULTICAST(&v6p(ss_)->sin6_addr);
}

bool address::is_broadcast() const noexcept {
    uint32_t v4;
    return v4_of(ss_, v4) && v4 == INADDR_BROADCAST;
}

bool address::needs_scope() const noexcept {
    if (family() != AF_INET6) return false;
    const in6_addr& a = v6p(ss_)->sin6_addr;
    return IN6_IS_ADDR_LINKLOCAL(&a) || IN6_IS_ADDR_MC_NODELOCAL(&a) ||
           IN6_IS_ADDR_MC_LINKLOCAL(&a);
}

bool address::is_v4_mapped() const noexcept {
    return family() == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&v6p(ss_)->sin6_addr);
}

bool address::is_link_local() const noexcept {
    return family() == AF_INET6 && IN6_IS_ADDR_LINKLOCAL(&v6p(ss_)->sin6_addr);
}

socklen_t address::size() const noexcept {
    if (family() == AF_INET) return sizeof(sockaddr_in);
    if (family() == AF_INET6) return sizeof(sockaddr_in6);
    return 0;
}

size_t address::format(char* buf, size_t cap, bool with_port) const noexcept {
    if (cap == 0) return 0;
    char ip[INET6_ADDRSTRLEN] = "?";
    char scope[IF_NAMESIZE + 1] = "";
    int n;
    if (family() == AF_INET) {
        inet_ntop(AF_INET, &v4p(ss_)->sin_addr, ip, sizeof ip);
        n = with_port ? std::snprintf(buf, cap, "%s:%u", ip, port()) : std::snprintf(buf, cap, "%s", ip);
    } else if (family() == AF_INET6) {
        inet_ntop(AF_INET6, &v6p(ss_)->sin6_addr, ip, sizeof ip);
        if (uint32_t id = scope_id()) {
            char name[IF_NAMESIZE];
            if (if_indextoname(id, name)) std::snprintf(scope, sizeof scope, "%%%s", name);
            else std::snprintf(scope, sizeof scope, "%%%u", id);
        }
        n = with_port ? std::snprintf(buf, cap, "[%s%s]:%u", ip, scope, port())
                      : std::snprintf(buf, cap, "%s%s", ip, scope);
    } else {
        n = std::snprintf(buf, cap, "(none)");
    }
    return n < 0 ? 0 : std::min(size_t(n), cap - 1);
}

bool operator==(const address& a, const address& b) noexcept {
    if (a.family() != b.family()) return false;
    if (a.family() == AF_INET)
        return v4p(a.ss_)->sin_addr.s_addr == v4p(b.ss_)->sin_addr.s_addr &&
               a.port() == b.port();
    if (a.family() == AF_INET6)
        return IN6_ARE_ADDR_EQUAL(&v6p(a.ss_)->sin6_addr, &v6p(b.ss_)->sin6_addr) &&
               a.port() == b.port() && a.scope_id() == b.scope_id();
    return true;
}

}  // namespace cx
