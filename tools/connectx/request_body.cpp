// request_body.cpp - request bodies from data options, with curl's rules per option.
#include "request_body.hpp"

#include <algorithm>
#include <cstdio>

namespace cxcli {
namespace {

// One piece as curl would send it; `err` set when its file cannot be read.
std::string piece(const data_arg& d, file_reader read, int& err, std::string& file) {
    const std::string& v = d.value;
    auto load = [&](const std::string& path) {
        std::string content;
        if (int e = read(path.c_str(), content)) {
            err = e;
            file = path;
        }
        return content;
    };
    switch (d.kind) {
        case data_kind::raw:
            return v;
        case data_kind::binary:
        case data_kind::json:
            return !v.empty() && v[0] == '@' ? load(v.substr(1)) : v;
        case data_kind::ascii: {
            if (v.empty() || v[0] != '@') return v;
            std::string content = load(v.substr(1));  // -d @file: CR and LF stripped
            content.erase(std::remove_if(content.begin(), content.end(),
                                         [](char c) { return c == '\r' || c == '\n'; }),
                          content.end());
            return content;
        }
        case data_kind::urlencode: {
            size_t at = v.find_first_of("=@");
            if (at == std::string::npos) return url_encode(v);
            std::string name = v.substr(0, at);
            std::string content = v[at] == '=' ? v.substr(at + 1) : load(v.substr(at + 1));
            return name.empty() ? url_encode(content) : name + "=" + url_encode(content);
        }
    }
    return v;
}

}  // namespace

std::string url_encode(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out += char(c);
        } else if (c == ' ') {
            out += '+';  // curl's form encoding
        } else {
            char buf[4];
            std::snprintf(buf, sizeof buf, "%%%02X", c);
            out += buf;
        }
    }
    return out;
}

body_outcome build_body(const std::vector<data_arg>& data, file_reader read) {
    body_outcome out;
    for (size_t i = 0; i < data.size(); ++i) {
        std::string p = piece(data[i], read, out.err, out.file);
        if (out.err) return out;
        bool json_after_json =
            i > 0 && data[i].kind == data_kind::json && data[i - 1].kind == data_kind::json;
        if (i > 0 && !json_after_json) out.body += '&';
        out.body += p;
        out.json = out.json || data[i].kind == data_kind::json;
    }
    return out;
}

}  // namespace cxcli
