// resolve.cpp - getaddrinfo, interface names, local addresses.
#include "resolve.hpp"

#include <ifaddrs.h>
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

bool is_local_address(const cx::address& ip) {
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0) return true;  // cannot tell: do not claim it is foreign
    bool found = false;
    for (ifaddrs* i = list; i && !found; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != ip.family()) continue;
        socklen_t len = ip.family() == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
        auto a = cx::address::from_sockaddr(i->ifa_addr, len);
        found = a && a->ip_string() == ip.ip_string();
    }
    ::freeifaddrs(list);
    // 127/8 is local as a whole on lo, not only 127.0.0.1.
    return found || (ip.family() == AF_INET && ip.ip_string().rfind("127.", 0) == 0);
}

}  // namespace cxcli
