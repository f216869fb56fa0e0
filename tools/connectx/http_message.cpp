// http_message.cpp - HTTP/1.1 request text and the incremental response parser (RFC 9112
// framing: Transfer-Encoding chunked wins over Content-Length; HEAD, 1xx, 204 and 304 responses
// have no body; otherwise the body runs to the end of the connection).
#include "http_message.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstddef>

namespace cxcli {
namespace {

constexpr size_t kMaxLine = 64 * 1024;
constexpr size_t kMaxHead = 1024 * 1024;

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

std::string_view header_name(std::string_view line) {
    return trim(line.substr(0, line.find(':')));
}

// The last coding of a Transfer-Encoding list ("gzip, chunked").
bool last_coding_is_chunked(std::string_view value) {
    size_t comma = value.rfind(',');
    std::string_view last = trim(comma == std::string_view::npos ? value : value.substr(comma + 1));
    return iequals(last, "chunked");
}

}  // namespace

std::string build_request(const http_request_spec& spec) {
    // Defaults first; a user header of the same name replaces one, "Name:" with nothing removes it.
    std::vector<std::pair<std::string, std::string>> headers = {
        {"Host", spec.host},
        {"User-Agent", spec.user_agent},
        {"Accept", "*/*"},
    };
    if (spec.body) {
        headers.emplace_back("Content-Length", std::to_string(spec.body->size()));
        headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    }
    for (const std::string& h : spec.headers) {
        std::string_view name = header_name(h);
        std::string_view value = trim(std::string_view(h).substr(h.find(':') + 1));
        // Every header of that name goes; the user's value takes the first one's place.
        size_t pos = headers.size();
        for (size_t i = headers.size(); i-- > 0;) {
            if (!iequals(headers[i].first, name)) continue;
            headers.erase(headers.begin() + std::ptrdiff_t(i));
            pos = i;
        }
        if (!value.empty())
            headers.emplace(headers.begin() + std::ptrdiff_t(std::min(pos, headers.size())),
                            std::string(name), std::string(value));
    }
    std::string out = spec.method + " " + spec.target + " HTTP/1.1\r\n";
    for (const auto& [name, value] : headers) out += name + ": " + value + "\r\n";
    out += "\r\n";
    if (spec.body) out += *spec.body;
    return out;
}

http_response_parser::status http_response_parser::fail(failure kind, std::string text) {
    why_ = kind;
    error_ = std::move(text);
    state_ = state::done;
    return status::error;
}

// Takes bytes up to and including '\n' into `line` (without CR LF). `complete` tells whether the
// line ended; otherwise all of `data` was taken.
bool http_response_parser::take_line(std::string_view& data, std::string& line, bool& complete) {
    size_t nl = data.find('\n');
    std::string_view part = data.substr(0, nl == std::string_view::npos ? data.size() : nl + 1);
    if (state_ == state::status_line || state_ == state::headers) raw_head_.append(part);
    data.remove_prefix(part.size());
    complete = nl != std::string_view::npos;
    if (complete) part.remove_suffix(1);
    line.append(part);
    if (complete && !line.empty() && line.back() == '\r') line.pop_back();
    return line.size() <= kMaxLine && raw_head_.size() <= kMaxHead;
}

http_response_parser::status http_response_parser::on_head_complete(http_response_sink& sink) {
    if (status_code_ >= 100 && status_code_ < 200 && status_code_ != 101) {
        sink.on_interim(raw_head_);
        raw_head_.clear();
        chunked_ = has_length_ = false;
        state_ = state::status_line;
        return status::more;
    }
    if (!sink.on_head(status_code_, raw_head_)) {
        state_ = state::done;
        return status::stopped;
    }
    raw_head_.clear();
    if (head_request_ || status_code_ == 101 || status_code_ == 204 || status_code_ == 304) {
        state_ = state::done;
    } else if (chunked_) {
        state_ = state::chunk_size;
    } else if (has_length_) {
        state_ = remaining_ == 0 ? state::done : state::body_length;
    } else {
        state_ = state::body_to_close;
    }
    return state_ == state::done ? status::done : status::more;
}

http_response_parser::status http_response_parser::feed(std::string_view data,
                                                        http_response_sink& sink) {
    if (!data.empty()) got_anything_ = true;
    while (state_ != state::done) {
        if (data.empty()) return status::more;
        switch (state_) {
            case state::status_line:
            case state::headers:
            case state::chunk_size:
            case state::chunk_crlf:
            case state::trailers: {
                bool complete;
                if (!take_line(data, line_, complete))
                    return fail(failure::malformed, "response line or head too long");
                if (!complete) return status::more;
                std::string line = std::move(line_);
                line_.clear();
                if (state_ == state::status_line) {
                    // "HTTP/1.1 200 OK": the version, a space, exactly three digits.
                    if (line.size() < 12 || line.compare(0, 7, "HTTP/1.") != 0 || line[8] != ' ' ||
                        !std::isdigit(static_cast<unsigned char>(line[9])) ||
                        !std::isdigit(static_cast<unsigned char>(line[10])) ||
                        !std::isdigit(static_cast<unsigned char>(line[11])) ||
                        (line.size() > 12 && line[12] != ' '))
                        return fail(failure::malformed, "not an HTTP/1.x status line");
                    status_code_ = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
                    state_ = state::headers;
                } else if (state_ == state::headers) {
                    if (line.empty()) {
                        status s = on_head_complete(sink);
                        if (s != status::more) return s;
                        continue;
                    }
                    size_t colon = line.find(':');
                    if (colon == std::string::npos || colon == 0)
                        return fail(failure::malformed, "malformed header line");
                    std::string_view name = std::string_view(line).substr(0, colon);
                    std::string_view value = trim(std::string_view(line).substr(colon + 1));
                    if (iequals(name, "Transfer-Encoding")) {
                        chunked_ = last_coding_is_chunked(value);
                    } else if (iequals(name, "Content-Length")) {
                        uint64_t n = 0;
                        auto [end, ec] =
                            std::from_chars(value.data(), value.data() + value.size(), n);
                        if (ec != std::errc() || end != value.data() + value.size() ||
                            (has_length_ && n != remaining_))
                            return fail(failure::malformed, "bad Content-Length");
                        has_length_ = true;
                        remaining_ = n;
                    }
                } else if (state_ == state::chunk_size) {
                    std::string_view hex = trim(std::string_view(line).substr(0, line.find(';')));
                    uint64_t n = 0;
                    auto [end, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), n, 16);
                    if (hex.empty() || ec != std::errc() || end != hex.data() + hex.size())
                        return fail(failure::malformed, "bad chunk size");
                    remaining_ = n;
                    state_ = n == 0 ? state::trailers : state::chunk_data;
                } else if (state_ == state::chunk_crlf) {
                    if (!line.empty())
                        return fail(failure::malformed, "chunk not followed by CRLF");
                    state_ = state::chunk_size;
                } else if (line.empty()) {  // trailers end
                    state_ = state::done;
                }
                break;
            }
            case state::body_length:
            case state::chunk_data:
            case state::body_to_close: {
                size_t n = data.size();
                if (state_ != state::body_to_close && remaining_ < n) n = size_t(remaining_);
                std::string_view part = data.substr(0, n);
                data.remove_prefix(n);
                body_bytes_ += n;
                if (state_ != state::body_to_close) remaining_ -= n;
                if (!sink.on_body(part)) {
                    state_ = state::done;
                    return status::stopped;
                }
                if (state_ == state::body_length && remaining_ == 0) state_ = state::done;
                if (state_ == state::chunk_data && remaining_ == 0) state_ = state::chunk_crlf;
                break;
            }
            case state::done:
                break;
        }
    }
    return status::done;
}

http_response_parser::status http_response_parser::finish(http_response_sink& sink) {
    (void)sink;
    switch (state_) {
        case state::done:
        case state::body_to_close:
            state_ = state::done;
            return why_ == failure::none ? status::done : status::error;
        case state::status_line:
            if (!got_anything_) return fail(failure::empty, "Empty reply from server");
            [[fallthrough]];
        case state::headers:
            return fail(failure::truncated_head,
                        "connection closed in the middle of the response head");
        case state::body_length:
            return fail(
                failure::truncated_body,
                "transfer closed with " + std::to_string(remaining_) + " bytes remaining to read");
        default:
            return fail(failure::truncated_body, "transfer closed in the middle of a chunked body");
    }
}

}  // namespace cxcli
