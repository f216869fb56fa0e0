// http_message.hpp - HTTP/1.1 on the wire, without I/O: the request text, and an incremental
// response parser (status line, headers, then a body framed by Content-Length, chunked encoding
// or the end of the connection). Fed bytes in any split, it reports through a sink.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cxcli {

struct http_request_spec {
    std::string method;  // "GET", "HEAD", "POST", ...
    std::string target;  // "/path?query"
    std::string host;    // Host header value
    std::string user_agent;
    std::vector<std::string> headers;   // user's "Name: value"; "Name:" removes a default header
    const std::string* body = nullptr;  // with Content-Length when set
};

// The request head and body, ready to send.
std::string build_request(const http_request_spec& spec);

class http_response_sink {
public:
    virtual ~http_response_sink() = default;
    // The whole head of the final (non-1xx) response, status line to the blank line, as received.
    virtual bool on_head(int status, std::string_view raw_head) = 0;
    // Interim 1xx responses, for the trace.
    virtual void on_interim(std::string_view raw_head) { (void)raw_head; }
    virtual bool on_body(std::string_view bytes) = 0;  // false stops the parse (write failed)
};

class http_response_parser {
public:
    enum class status { more, done, error, stopped };

    // `head_request`: the response to HEAD has no body whatever its headers say.
    explicit http_response_parser(bool head_request) : head_request_(head_request) {}

    // Consumes `data`; bytes after the end of the response are ignored.
    status feed(std::string_view data, http_response_sink& sink);
    // The peer closed the connection: `done` when the body is delimited by the close.
    status finish(http_response_sink& sink);

    // Why the parse ended in `error`.
    enum class failure { none, malformed, empty, truncated_head, truncated_body };
    failure why() const { return why_; }
    const std::string& error() const { return error_; }
    bool got_anything() const { return got_anything_; }
    int status_code() const { return status_code_; }
    uint64_t body_bytes() const { return body_bytes_; }

private:
    enum class state {
        status_line,
        headers,
        body_length,
        chunk_size,
        chunk_data,
        chunk_crlf,
        trailers,
        body_to_close,
        done
    };

    status fail(failure kind, std::string text);
    status on_head_complete(http_response_sink& sink);
    bool take_line(std::string_view& data, std::string& line, bool& complete);

    bool head_request_;
    state state_ = state::status_line;
    std::string line_;      // partial line being assembled
    std::string raw_head_;  // the head so far, for -i / -v
    int status_code_ = 0;
    bool chunked_ = false;
    bool has_length_ = false;
    bool keep_alive_ = true;
    uint64_t remaining_ = 0;  // body or chunk bytes still to come
    uint64_t body_bytes_ = 0;
    bool got_anything_ = false;
    failure why_ = failure::none;
    std::string error_;
};

}  // namespace cxcli
