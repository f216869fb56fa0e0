// write_out.cpp - expansion of -w templates. Numbers are printed the way curl prints them:
// times as seconds with six decimals, http_code as three digits.
#include "write_out.hpp"

#include <cstdio>

namespace cxcli {
namespace {

std::string seconds(double s) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6f", s);
    return buf;
}

// The value of %{name}, or nullopt when the name is unknown.
std::optional<std::string> variable(std::string_view name, const transfer_report& r) {
    auto ip = [](const std::optional<cx::address>& a) {
        return a ? a->ip_string() : std::string();
    };
    auto port = [](const std::optional<cx::address>& a) {
        return a ? std::to_string(a->port()) : std::string("0");
    };
    if (name == "local_ip") return ip(r.local);
    if (name == "local_port") return port(r.local);
    if (name == "remote_ip") return ip(r.remote);
    if (name == "remote_port") return port(r.remote);
    if (name == "http_code" || name == "response_code") {
        char buf[8];
        std::snprintf(buf, sizeof buf, "%03d", r.http_code);
        return buf;
    }
    if (name == "time_namelookup") return seconds(r.time_namelookup);
    if (name == "time_connect") return seconds(r.time_connect);
    if (name == "time_total") return seconds(r.time_total);
    if (name == "size_download") return std::to_string(r.size_download);
    if (name == "size_upload") return std::to_string(r.size_upload);
    if (name == "num_connects") return std::to_string(r.num_connects);
    if (name == "exitcode") return std::to_string(r.exit_code);
    if (name == "errormsg") return r.errormsg;
    if (name == "url") return r.url;
    if (name == "scheme") return r.scheme;
    if (name == "technique") return r.technique;  // connectx's own
    return std::nullopt;
}

}  // namespace

std::string format_write_out(std::string_view f, const transfer_report& r,
                             std::vector<std::string>& unknown) {
    std::string out;
    for (size_t i = 0; i < f.size(); ++i) {
        char c = f[i];
        if (c == '%' && i + 1 < f.size() && f[i + 1] == '%') {
            out += '%';
            ++i;
        } else if (c == '%' && i + 1 < f.size() && f[i + 1] == '{') {
            size_t close = f.find('}', i + 2);
            if (close == std::string_view::npos) {  // no closing brace: print as is
                out.append(f.substr(i));
                break;
            }
            std::string_view name = f.substr(i + 2, close - i - 2);
            if (auto v = variable(name, r))
                out += *v;
            else
                unknown.emplace_back(name);
            i = close;
        } else if (c == '\\' && i + 1 < f.size()) {
            char e = f[i + 1];
            if (e == 'n')
                out += '\n';
            else if (e == 'r')
                out += '\r';
            else if (e == 't')
                out += '\t';
            else if (e == '\\')
                out += '\\';
            else {
                out += c;
                continue;
            }
            ++i;
        } else {
            out += c;
        }
    }
    return out;
}

}  // namespace cxcli
