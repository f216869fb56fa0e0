// url.cpp - tcp:// and udp:// URLs and IPv6 zones, through curl_url.
#include "url.hpp"

#include <curl/curl.h>
#include <net/if.h>
#include <strings.h>

#include <memory>

#include "exit_codes.hpp"

namespace cxcli {
namespace {

using curlu_ptr = std::unique_ptr<CURLU, void (*)(CURLU*)>;

std::string part(CURLU* u, CURLUPart which) {
    char* v = nullptr;
    if (curl_url_get(u, which, &v, 0) != CURLUE_OK || !v) return {};
    std::string s = v;
    curl_free(v);
    return s;
}

curlu_ptr parsed(const std::string& text, CURLUcode& rc) {
    curlu_ptr u(curl_url(), &curl_url_cleanup);
    rc = curl_url_set(u.get(), CURLUPART_URL, text.c_str(),
                      CURLU_NON_SUPPORT_SCHEME | CURLU_GUESS_SCHEME);
    return u;
}

}  // namespace

bool is_stream_url(const std::string& text) {
    return strncasecmp(text.c_str(), "tcp://", 6) == 0 ||
           strncasecmp(text.c_str(), "udp://", 6) == 0;
}

stream_url_outcome parse_stream_url(const std::string& text) {
    stream_url_outcome out;
    CURLUcode rc;
    curlu_ptr u = parsed(text, rc);
    if (rc != CURLUE_OK) {
        out.exit = exit_url_malformed;
        out.error = std::string("URL rejected: ") + curl_url_strerror(rc);
        return out;
    }
    out.url.udp = strncasecmp(text.c_str(), "udp", 3) == 0;
    std::string host = part(u.get(), CURLUPART_HOST), port = part(u.get(), CURLUPART_PORT);
    if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    if (std::string zone = part(u.get(), CURLUPART_ZONEID); !zone.empty()) host += "%" + zone;
    long p = port.empty() ? 0 : std::strtol(port.c_str(), nullptr, 10);
    if (p <= 0 || p > 65535) {
        out.exit = exit_url_malformed;
        out.error =
            "URL " + text + " needs a port: " + (out.url.udp ? "udp" : "tcp") + "://HOST:PORT";
        return out;
    }
    out.url.host = host;
    out.url.port = uint16_t(p);
    return out;
}

std::string url_part(const std::string& url, int which) {
    CURLUcode rc;
    curlu_ptr u = parsed(url, rc);
    return rc == CURLUE_OK ? part(u.get(), CURLUPart(which)) : "";
}

std::string check_zone(const std::string& url) {
    // A URL that does not parse has no zone here: libcurl reports it in its own words.
    std::string zone = url_part(url, CURLUPART_ZONEID);
    if (zone.empty() || zone.find_first_not_of("0123456789") == std::string::npos) return {};
    if (::if_nametoindex(zone.c_str()) != 0) return {};
    return "zone \"" + zone + "\" of " + url + " names no network interface";
}

}  // namespace cxcli
