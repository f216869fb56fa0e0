// write_out.cpp - -w templates: the same bytes curl 7.88 writes for the same values.
#include "write_out.hpp"

#include <algorithm>
#include <cctype>
#include <cinttypes>
#include <cstdio>

namespace cxcli {
namespace {

std::string seconds_text(int64_t us) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%" PRId64 ".%06" PRId64, us / 1000000, us % 1000000);
    return buf;
}

// The value as -w prints it; nullopt when absent (prints nothing).
std::optional<std::string> plain(const wo_value& v) {
    switch (v.kind) {
        case wo_value::type::integer: {
            char buf[32];
            std::snprintf(buf, sizeof buf, "%0*" PRId64, v.digits, v.integer);
            return buf;
        }
        case wo_value::type::seconds:
            return seconds_text(v.integer);
        case wo_value::type::string:
            return v.text;
    }
    return std::nullopt;
}

std::string json_value(const wo_value& v) {
    if (v.kind == wo_value::type::integer) return std::to_string(v.integer);
    if (v.kind == wo_value::type::seconds) return seconds_text(v.integer);
    return v.text ? json_string(*v.text) : "null";
}

bool iequal(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string json_all(const write_out_report& r) {
    std::string s = "{";
    for (const auto& [name, v] : r.vars) s += json_string(name) + ":" + json_value(v) + ",";
    return s + "\"curl_version\":" + json_string(r.curl_version) + "}";
}

// {"name":["v1","v2"],\n...\n}: every name once (lower case), in order of first appearance.
std::string header_json(const write_out_report& r) {
    std::vector<std::string> names;
    for (const auto& h : r.headers)
        if (std::find(names.begin(), names.end(), lower(h.first)) == names.end())
            names.push_back(lower(h.first));
    std::string s = "{";
    for (size_t i = 0; i < names.size(); ++i) {
        s += (i ? ",\n" : "") + json_string(names[i]) + ":[";
        bool first = true;
        for (const auto& h : r.headers) {
            if (lower(h.first) != names[i]) continue;
            s += (first ? "" : ",") + json_string(h.second);
            first = false;
        }
        s += "]";
    }
    return s + "\n}";
}

// The last value of header `name` in the last response, or nullopt.
std::optional<std::string> header_value(const write_out_report& r, std::string_view name) {
    std::optional<std::string> v;
    for (const auto& h : r.headers)
        if (iequal(h.first, name)) v = h.second;
    return v;
}

const wo_value* find_var(const write_out_report& r, std::string_view name) {
    for (const auto& [n, v] : r.vars)
        if (iequal(n, name)) return &v;
    return nullptr;
}

}  // namespace

std::string json_string(std::string_view s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out += char(c);
                }
        }
    }
    return out + "\"";
}

write_out_text format_write_out(std::string_view f, const write_out_report& r) {
    write_out_text t;
    std::string* sink = &t.out;
    size_t i = 0;
    while (i < f.size()) {
        char c = f[i];
        if (c == '\\' && i + 1 < f.size()) {
            char e = f[i + 1];
            if (e == 'n' || e == 'r' || e == 't')
                *sink += e == 'n' ? '\n' : e == 'r' ? '\r' : '\t';
            else
                *sink += f.substr(i, 2);  // unknown escapes print as written, as curl's do
            i += 2;
            continue;
        }
        if (c != '%' || i + 1 >= f.size()) {
            *sink += c;
            ++i;
            continue;
        }
        if (f[i + 1] == '%') {
            *sink += '%';
            i += 2;
            continue;
        }
        bool is_header = f.substr(i + 1, 7) == "header{";
        size_t open = is_header ? i + 8 : i + 2;
        size_t close = f.find('}', open);
        if ((!is_header && f[i + 1] != '{') || close == std::string_view::npos) {
            *sink += f.substr(i, 2);  // not a variable: printed as it is
            i += 2;
            continue;
        }
        std::string_view name = f.substr(open, close - open);
        i = close + 1;
        if (is_header) {
            if (auto v = header_value(r, name)) *sink += *v;
        } else if (name == "stderr") {
            sink = &t.err;
        } else if (name == "stdout") {
            sink = &t.out;
        } else if (name == "onerror") {
            if (r.exit_code == 0) break;
        } else if (name == "json") {
            *sink += json_all(r);
        } else if (name == "header_json") {
            *sink += header_json(r);
        } else if (const wo_value* v = find_var(r, name)) {
            if (auto text = plain(*v)) *sink += *text;
        } else {
            t.unknown.emplace_back(name);
        }
    }
    return t;
}

}  // namespace cxcli
