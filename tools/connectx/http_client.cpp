// http_client.cpp - the HTTP/1.1 exchange: the request goes out whole, the response is parsed
// as it arrives and ends at its framing, not at the close, so keep-alive servers work. The
// connection is closed afterwards (one request per run).
#include "http_client.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "exit_codes.hpp"

namespace cxcli {
namespace {

// Each line of a head, prefixed for -v ("> " sent, "< " received).
void trace_head(std::string_view prefix, std::string_view head) {
    while (!head.empty()) {
        size_t nl = head.find('\n');
        std::string_view line = head.substr(0, nl);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        trace_line(prefix, line);
        if (nl == std::string_view::npos) break;
        head.remove_prefix(nl + 1);
    }
}

class output_sink : public http_response_sink {
public:
    output_sink(const http_options& opt, int out_fd) : opt_(opt), fd_(out_fd) {}

    bool on_head(int status, std::string_view raw) override {
        if (opt_.verbose) trace_head("< ", raw);
        if (opt_.fail_on_error && status >= 400) {
            failed_status_ = status;
            return false;
        }
        return !opt_.include_head || write(raw);
    }
    void on_interim(std::string_view raw) override {
        if (opt_.verbose) trace_head("< ", raw);
    }
    bool on_body(std::string_view bytes) override { return write(bytes); }

    int write_error = 0;
    int failed_status_ = 0;

private:
    bool write(std::string_view bytes) {
        write_error = write_all(fd_, bytes);
        return write_error == 0;
    }
    const http_options& opt_;
    int fd_;
};

std::string ms_since(clock::time_point t0) {
    return std::to_string(
        std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t0).count());
}

// Sends all of `data` on a non-blocking socket. Returns 0, an errno, or ETIME on the deadline.
int send_all(int sock, std::string_view data, const deadline& until) {
    while (!data.empty()) {
        ssize_t n = ::send(sock, data.data(), data.size(), MSG_NOSIGNAL);
        if (n >= 0) {
            data.remove_prefix(size_t(n));
            continue;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN) return errno;
        int ev = wait_fd(sock, POLLOUT, until);
        if (ev == 0) return ETIME;
        if (ev < 0) return -ev;
    }
    return 0;
}

}  // namespace

transfer_result http_transfer(int sock, const http_options& opt, int out_fd, const deadline& until,
                              clock::time_point start) {
    transfer_result r;
    std::string request = build_request(opt.request);
    if (opt.verbose)
        trace_head("> ", std::string_view(request).substr(0, request.find("\r\n\r\n") + 2));
    if (int e = send_all(sock, request, until)) {
        r.exit = e == ETIME ? exit_timeout : exit_send;
        r.error = e == ETIME ? "Operation timed out after " + ms_since(start) +
                                   " milliseconds sending the request"
                             : std::string("Failed sending the request: ") + std::strerror(e);
        return r;
    }
    r.sent = opt.request.body ? opt.request.body->size() : 0;

    http_response_parser parser(opt.request.method == "HEAD");
    output_sink sink(opt, out_fd);
    char buf[64 * 1024];
    http_response_parser::status st = http_response_parser::status::more;
    while (st == http_response_parser::status::more) {
        ssize_t n = ::recv(sock, buf, sizeof buf, 0);
        if (n > 0) {
            st = parser.feed(std::string_view(buf, size_t(n)), sink);
            continue;
        }
        if (n == 0) {
            st = parser.finish(sink);
            break;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN) {
            r.exit = exit_recv;
            r.error = std::string("Recv failure: ") + std::strerror(errno);
            break;
        }
        int ev = wait_fd(sock, POLLIN, until);
        if (ev == 0) {
            r.exit = exit_timeout;
            r.error = "Operation timed out after " + ms_since(start) + " milliseconds with " +
                      std::to_string(parser.body_bytes()) + " bytes received";
            break;
        }
        if (ev < 0) {
            r.exit = exit_recv;
            r.error = std::string("poll: ") + std::strerror(-ev);
            break;
        }
    }
    r.http_code = parser.status_code();
    r.received = parser.body_bytes();
    if (r.exit) return r;
    if (st == http_response_parser::status::stopped) {
        if (sink.write_error) {
            r.exit = exit_write;
            r.error = std::string("Failure writing output: ") + std::strerror(sink.write_error);
        } else {
            r.exit = exit_http_error;
            r.error = "The requested URL returned error: " + std::to_string(sink.failed_status_);
        }
    } else if (st == http_response_parser::status::error) {
        using failure = http_response_parser::failure;
        switch (parser.why()) {
            case failure::empty:
                r.exit = exit_empty_reply;
                break;
            case failure::truncated_body:
                r.exit = exit_partial;
                break;
            case failure::truncated_head:
                r.exit = exit_recv;
                break;
            default:
                r.exit = exit_weird_reply;
                break;
        }
        r.error = parser.error();
    }
    if (opt.verbose) trace_line("* ", "Closing connection");
    return r;
}

}  // namespace cxcli
