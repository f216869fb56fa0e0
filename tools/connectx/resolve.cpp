// resolve.cpp - getaddrinfo, interface names and route source probes.
#include "resolve.hpp"

#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>

#include "io.hpp"

namespace cxcli {

namespace {

// curl answers "localhost" and "*.localhost" itself (RFC 6761), whatever /etc/hosts says: ::1
// first, then 127.0.0.1, as the family allows.
bool is_localhost(const std::string& host) {
    std::string h;
    for (char c : host) h += char(std::tolower(static_cast<unsigned char>(c)));
    return h == "localhost" || (h.size() > 10 && h.compare(h.size() - 10, 10, ".localhost") == 0);
}

resolve_outcome loopback(uint16_t port, int family) {
    resolve_outcome out;
    if (family != AF_INET) out.addresses.push_back(*cx::address::parse("::1", port));
    if (family != AF_INET6) out.addresses.push_back(*cx::address::parse("127.0.0.1", port));
    return out;
}

}  // namespace

resolve_outcome resolve_host(const std::string& host, uint16_t port, int family, int socktype) {
    if (is_localhost(host)) return loopback(port, family);
    resolve_outcome out;
    addrinfo hints{};
    hints.ai_family = family;
    hints.ai_socktype = socktype;
    // No AI_ADDRCONFIG: it hides loopback-only setups (a namespace with only lo) entirely.
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* list = nullptr;
    std::string service = std::to_string(port);
    int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &list);
    if (rc != 0) {
        out.error = ::gai_strerror(rc);
        return out;
    }
    for (addrinfo* ai = list; ai; ai = ai->ai_next) {
        auto a = cx::address::from_sockaddr(ai->ai_addr, ai->ai_addrlen);
        if (!a) continue;
        if (std::find(out.addresses.begin(), out.addresses.end(), *a) == out.addresses.end())
            out.addresses.push_back(*a);
    }
    ::freeaddrinfo(list);
    if (out.addresses.empty()) out.error = "no usable address";
    return out;
}

int interface_index(const std::string& name) {
    return int(::if_nametoindex(name.c_str()));
}

std::optional<cx::address> route_source(const cx::address& dst, int ifindex) {
    unique_fd fd(::socket(dst.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd) return std::nullopt;
    if (ifindex &&
        ::setsockopt(fd.get(), SOL_SOCKET, SO_BINDTOIFINDEX, &ifindex, sizeof ifindex) != 0)
        return std::nullopt;
    if (::connect(fd.get(), dst.sa(), dst.size()) != 0) return std::nullopt;
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) return std::nullopt;
    auto a = cx::address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
    if (!a) return std::nullopt;
    a->set_port(0);
    return *a;
}

bool is_local_address(const cx::address& ip) {
    unique_fd fd(::socket(ip.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd) return false;
    cx::address any_port = ip;
    any_port.set_port(0);
    return ::bind(fd.get(), any_port.sa(), any_port.size()) == 0;
}

}  // namespace cxcli
