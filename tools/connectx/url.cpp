// url.cpp - URL parsing for the forms in url.hpp. Userinfo, fragments and percent-encoded hosts
// other than an IPv6 zone ("%25eth0", RFC 6874) are refused or dropped rather than guessed at.
#include "url.hpp"

#include <cctype>
#include <string_view>

#include "exit_codes.hpp"

namespace cxcli {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

url_outcome malformed(std::string why) {
    return {{}, exit_url_malformed, std::move(why)};
}

}  // namespace

const char* scheme_name(scheme s) {
    switch (s) {
        case scheme::http:
            return "http";
        case scheme::tcp:
            return "tcp";
        case scheme::udp:
            return "udp";
    }
    return "?";
}

url_outcome parse_url(const std::string& text) {
    url_outcome out;
    url& u = out.url;
    std::string_view rest = text;
    if (size_t sep = rest.find("://"); sep != std::string_view::npos) {
        std::string name = lower(rest.substr(0, sep));
        if (name == "http")
            u.scheme = scheme::http;
        else if (name == "tcp")
            u.scheme = scheme::tcp;
        else if (name == "udp")
            u.scheme = scheme::udp;
        else
            return {{}, exit_unsupported_protocol, "protocol \"" + name + "\" not supported"};
        rest.remove_prefix(sep + 3);
    }
    if (size_t hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);

    size_t auth_end = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, auth_end);
    std::string_view target = auth_end == std::string_view::npos ? "" : rest.substr(auth_end);
    if (authority.find('@') != std::string_view::npos)
        return malformed("user names in URLs are not supported");

    std::string_view port_text;
    if (!authority.empty() && authority.front() == '[') {
        size_t close = authority.find(']');
        if (close == std::string_view::npos) return malformed("unterminated [ in host");
        std::string_view host = authority.substr(1, close - 1);
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return malformed("junk after ]");
            port_text = after.substr(1);
            if (port_text.empty()) return malformed("empty port");
        }
        // RFC 6874 writes the zone separator as "%25"; a bare "%" is accepted too.
        if (size_t pct = host.find('%'); pct != std::string_view::npos) {
            std::string_view zone = host.substr(pct + 1);
            if (zone.substr(0, 2) == "25") zone.remove_prefix(2);
            if (zone.empty()) return malformed("empty IPv6 zone");
            u.host = std::string(host.substr(0, pct)) + "%" + std::string(zone);
        } else {
            u.host = std::string(host);
        }
        std::string_view ip = std::string_view(u.host).substr(0, u.host.find('%'));
        if (ip.empty() ||
            ip.find_first_not_of("0123456789abcdefABCDEF:.") != std::string_view::npos)
            return malformed("bad IPv6 address in brackets");
        u.ipv6_literal = true;
    } else {
        size_t colon = authority.rfind(':');
        if (colon != std::string_view::npos) {
            if (authority.find(':') != colon)
                return malformed("IPv6 addresses in URLs need brackets: [" +
                                 std::string(authority) + "]");
            port_text = authority.substr(colon + 1);
            if (port_text.empty()) return malformed("empty port");
            authority = authority.substr(0, colon);
        }
        u.host = std::string(authority);
    }
    if (u.host.empty()) return malformed("no host");
    for (char c : u.host)
        if (std::isspace(static_cast<unsigned char>(c)) ||
            std::iscntrl(static_cast<unsigned char>(c)))
            return malformed("bad character in host");

    if (!port_text.empty()) {
        uint32_t v = 0;
        if (port_text.size() > 5) return malformed("bad port");
        for (char c : port_text) {
            if (c < '0' || c > '9') return malformed("bad port");
            v = v * 10 + uint32_t(c - '0');
        }
        if (v == 0 || v > 65535) return malformed("port out of range 1-65535");
        u.port = uint16_t(v);
    } else if (u.scheme == scheme::http) {
        u.port = 80;
    } else {
        return malformed(std::string(scheme_name(u.scheme)) + " URLs need a port");
    }

    if (u.scheme == scheme::http) {
        u.target = target.empty() ? "/" : std::string(target);
        if (u.target.front() == '?') u.target.insert(0, "/");
        for (char c : u.target)
            if (c == ' ' || std::iscntrl(static_cast<unsigned char>(c)))
                return malformed("bad character in path (encode it as %XX)");
    } else if (!target.empty() && target != "/") {
        return malformed(std::string(scheme_name(u.scheme)) + " URLs take no path");
    }
    return out;
}

std::string host_header(const url& u) {
    std::string h = u.ipv6_literal ? "[" + u.host.substr(0, u.host.find('%')) + "]" : u.host;
    if (u.port != 80) h += ":" + std::to_string(u.port);
    return h;
}

}  // namespace cxcli
