// http_transfer.cpp - the libcurl run: outputs, retries, -w, messages and exit status.
#include "http_transfer.hpp"

#include <curl/curl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>

#include "curl_report.hpp"
#include "curl_sockets.hpp"
#include "exit_codes.hpp"
#include "http_options.hpp"
#include "io.hpp"
#include "output_sink.hpp"
#include "url.hpp"
#include "write_out.hpp"

namespace cxcli {
namespace {

// Where one transfer's bytes go.
struct transfer_io {
    output_sink* body = nullptr;
    output_sink* dump = nullptr;   // -D
    bool headers_to_body = false;  // -i, -I
    header_list headers;           // of the last response, for %header{} and header_json
};

size_t on_body(char* p, size_t, size_t n, void* arg) {
    auto* io = static_cast<transfer_io*>(arg);
    return io->body->write(p, n) ? n : 0;
}

// One header line (CRLF included) at a time; a status line starts a new response.
size_t on_header(char* p, size_t, size_t n, void* arg) {
    auto* io = static_cast<transfer_io*>(arg);
    std::string_view line(p, n);
    if (line.substr(0, 5) == "HTTP/") io->headers.clear();
    size_t colon = line.find(':');
    if (colon != std::string_view::npos && line.substr(0, 5) != "HTTP/") {
        std::string_view v = line.substr(colon + 1);
        size_t b = v.find_first_not_of(" \t"), e = v.find_last_not_of(" \t\r\n");
        io->headers.emplace_back(
            std::string(line.substr(0, colon)),
            b == std::string_view::npos ? "" : std::string(v.substr(b, e - b + 1)));
    }
    if (io->dump && !io->dump->write(p, n)) return 0;
    if (io->headers_to_body && !io->body->write(p, n)) return 0;
    return n;
}

std::string url_host(const std::string& url) {
    std::string host = url_part(url, CURLUPART_HOST);
    if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    return host;
}

struct outcome {
    int code = 0;
    std::string message;  // "" when code == 0
};

struct session {
    const cli_args& a;
    CURL* h;
    curl_sockets sockets;
    http_request_data data;
    std::string write_out;
    std::unique_ptr<output_sink> dump;
};

// One curl_easy_perform(). A connect that connectx refused is reported with connectx's exit
// status and words (which 4-tuple, which source), not libcurl's "aborted by callback".
outcome perform_once(session& s, transfer_io& io, const std::string& url) {
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(s.h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(s.h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(s.h, CURLOPT_WRITEFUNCTION, &on_body);
    curl_easy_setopt(s.h, CURLOPT_WRITEDATA, &io);
    curl_easy_setopt(s.h, CURLOPT_HEADERFUNCTION, &on_header);
    curl_easy_setopt(s.h, CURLOPT_HEADERDATA, &io);
    io.headers.clear();
    s.sockets.start_transfer(url_host(url), deadline::after(s.a.max_time), s.a.connect_timeout);
    CURLcode rc = curl_easy_perform(s.h);
    curl_easy_setopt(s.h, CURLOPT_ERRORBUFFER, nullptr);
    outcome o{int(rc), rc == CURLE_OK ? "" : *errbuf ? errbuf : curl_easy_strerror(rc)};
    const auto& f = s.sockets.failure();
    if (f && (rc == CURLE_COULDNT_CONNECT || rc == CURLE_ABORTED_BY_CALLBACK ||
              rc == CURLE_OPERATION_TIMEDOUT))
        o = {f->exit, f->error};
    return o;
}

// curl's --retry rule: which failures are transient, and the word it uses for them.
const char* retry_reason(const session& s, const outcome& o) {
    if (o.code == CURLE_OPERATION_TIMEDOUT || o.code == CURLE_COULDNT_RESOLVE_HOST ||
        o.code == CURLE_COULDNT_RESOLVE_PROXY)
        return ": timeout";
    long os_errno = 0;
    curl_easy_getinfo(s.h, CURLINFO_OS_ERRNO, &os_errno);
    if (s.a.retry_connrefused && o.code == exit_connect &&
        (os_errno == ECONNREFUSED ||
         o.message.find(std::strerror(ECONNREFUSED)) != std::string::npos))
        return ": connection refused";
    long status = 0;
    curl_easy_getinfo(s.h, CURLINFO_RESPONSE_CODE, &status);
    if (status == 408 || status == 429 || status == 500 || status == 502 || status == 503 ||
        status == 504)
        return ": HTTP error";
    return nullptr;
}

outcome perform_with_retries(session& s, transfer_io& io, const std::string& url) {
    const auto start = clock::now();
    long left = s.a.retry;
    long delay_ms = s.a.retry_delay > 0 ? long(s.a.retry_delay * 1000) : 1000;
    for (;;) {
        outcome o = perform_once(s, io, url);
        const char* why = left > 0 ? retry_reason(s, o) : nullptr;
        if (!why) return o;
        curl_off_t after = 0;  // Retry-After, which curl honours
        curl_easy_getinfo(s.h, CURLINFO_RETRY_AFTER, &after);
        long sleep_ms = after > 0 && s.a.retry_delay <= 0 ? long(after) * 1000 : delay_ms;
        if (s.a.retry_max_time > 0 &&
            seconds_since(start) + double(sleep_ms) / 1000 > s.a.retry_max_time)
            return o;
        if (!s.a.silent)
            trace_line("Warning: ", std::string("Problem ") + why + ". Will retry in " +
                                        std::to_string(sleep_ms / 1000) + " seconds. " +
                                        std::to_string(left) + " retries left.");
        io.body->rewind();
        std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
        --left;
        if (s.a.retry_delay <= 0) delay_ms = std::min(delay_ms * 2, 600'000L);
    }
}

void print_write_out(session& s, const transfer_io& io, const std::string& url, int urlnum,
                     const outcome& o) {
    if (s.write_out.empty()) return;
    char *local_ip = nullptr, *remote_ip = nullptr;
    long local_port = 0, remote_port = 0;
    curl_easy_getinfo(s.h, CURLINFO_LOCAL_IP, &local_ip);
    curl_easy_getinfo(s.h, CURLINFO_LOCAL_PORT, &local_port);
    curl_easy_getinfo(s.h, CURLINFO_PRIMARY_IP, &remote_ip);
    curl_easy_getinfo(s.h, CURLINFO_PRIMARY_PORT, &remote_port);
    const connection* conn = local_ip && remote_ip
                                 ? s.sockets.find(local_ip, local_port, remote_ip, remote_port)
                                 : nullptr;
    std::string filename = io.body->is_stdout() ? "" : io.body->path();
    write_out_report r =
        collect_report(s.h, {&io.headers, url, urlnum, filename, o.code, o.message, conn});
    write_out_text t = format_write_out(s.write_out, r);
    for (const auto& name : t.unknown)
        trace_line("connectx: ", "unknown --write-out variable: '" + name + "'");
    std::fwrite(t.out.data(), 1, t.out.size(), stdout);
    std::fflush(stdout);
    if (!t.err.empty()) write_all(STDERR_FILENO, t.err);
}

// The output of URL number `i`: -o/-O in order, then standard output.
std::unique_ptr<output_sink> output_for(const cli_args& a, size_t i, const std::string& url,
                                        outcome& err) {
    if (i >= a.outputs.size()) return std::make_unique<output_sink>();
    if (!a.outputs[i].remote_name) return std::make_unique<output_sink>(a.outputs[i].file);
    std::string name = remote_file_name(url);
    if (name.empty()) err = {exit_write, "Remote file name has no length!"};
    return std::make_unique<output_sink>(name);
}

// A URL libcurl cannot parse fails before any transfer, so without -w output, as curl's.
bool parses(const std::string& url) {
    CURLU* u = curl_url();
    bool ok = curl_url_set(u, CURLUPART_URL, url.c_str(),
                           CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK;
    curl_url_cleanup(u);
    return ok;
}

outcome run_one(session& s, size_t i, const std::string& user_url) {
    outcome o;
    if (!parses(user_url)) return {CURLE_URL_MALFORMAT, curl_easy_strerror(CURLE_URL_MALFORMAT)};
    std::string url = effective_request_url(s.a, s.data, user_url);
    auto body = output_for(s.a, i, url, o);
    if (o.code) return o;
    transfer_io io{body.get(), s.dump.get(), s.a.include || s.a.head, {}};
    o = perform_with_retries(s, io, url);
    if (o.code == 0 && !body->touch()) o = {exit_write, "Failure writing output to destination"};
    if (int e = body->close(); e && o.code == 0)
        o = {exit_write, "Failure writing output to destination: " + std::string(std::strerror(e))};
    print_write_out(s, io, user_url, int(i), o);
    return o;
}

}  // namespace

int run_http(const cli_args& a, const source_spec& source, const std::string& write_out,
             const std::string& user_agent) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return CURLE_FAILED_INIT;
    std::unique_ptr<CURL, void (*)(CURL*)> h(curl_easy_init(), &curl_easy_cleanup);
    if (!h) return CURLE_FAILED_INIT;
    connect_request base;
    base.socktype = SOCK_STREAM;
    base.source = source;
    base.verbose = a.verbose;
    base.trace_trying = false;  // libcurl says "Trying" itself
    session s{a, h.get(), curl_sockets(base), {}, write_out, nullptr};
    s.data.user_agent = a.user_agent.empty() ? user_agent : a.user_agent;
    s.sockets.install(h.get());
    if (!a.dump_header.empty()) s.dump = std::make_unique<output_sink>(a.dump_header);
    setup_error e = configure_handle(h.get(), a, s.data);
    int status = e.exit;
    if (e.exit && (!a.silent || a.show_error))
        trace_line("connectx: ", "(" + std::to_string(e.exit) + ") " + e.message);
    for (size_t i = 0; i < a.urls.size() && !e.exit; ++i) {
        outcome o = run_one(s, i, a.urls[i]);
        if (o.code && (!a.silent || a.show_error))
            trace_line("connectx: ", "(" + std::to_string(o.code) + ") " + o.message);
        status = o.code;
    }
    if (s.dump && s.dump->close() != 0 && status == 0) status = exit_write;
    h.reset();  // closes the connections (close_socket) while `s` still lives
    curl_global_cleanup();
    return status;
}

}  // namespace cxcli
