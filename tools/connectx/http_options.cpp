// http_options.cpp - curl's options mapped to CURLOPT_*.
#include "http_options.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "curl_trace.hpp"
#include "exit_codes.hpp"
#include "io.hpp"
#include "request_body.hpp"
#include "url.hpp"

namespace cxcli {
namespace {

bool has_header(const cli_args& a, const char* name) {
    size_t n = std::strlen(name);
    for (const auto& h : a.headers)
        if (h.size() > n && strncasecmp(h.c_str(), name, n) == 0 && (h[n] == ':' || h[n] == ';'))
            return true;
    return false;
}

curl_slist* list_of(http_request_data& d, const std::vector<std::string>& items) {
    curl_slist* l = nullptr;
    for (const auto& s : items) l = curl_slist_append(l, s.c_str());
    d.lists.push_back(l);
    return l;
}

// -F name=value, name=@file (a file part, with its name), name=<file (its content only).
setup_error add_form(CURL* h, const cli_args& a, http_request_data& d) {
    d.form = curl_mime_init(h);
    for (const auto& f : a.form) {
        size_t eq = f.find('=');
        std::string name = f.substr(0, eq), value = f.substr(eq + 1);
        curl_mimepart* part = curl_mime_addpart(d.form);
        curl_mime_name(part, name.c_str());
        CURLcode rc = CURLE_OK;
        if (!value.empty() && (value[0] == '@' || value[0] == '<')) {
            rc = curl_mime_filedata(part, value.c_str() + 1);
            if (value[0] == '<') curl_mime_filename(part, nullptr);
        } else {
            rc = curl_mime_data(part, value.data(), value.size());
        }
        if (rc != CURLE_OK)
            return {exit_read, "-F " + name + ": cannot read " + value.substr(1) + ": " +
                                   curl_easy_strerror(rc)};
    }
    curl_easy_setopt(h, CURLOPT_MIMEPOST, d.form);
    return {};
}

setup_error set_body(CURL* h, const cli_args& a, http_request_data& d) {
    body_outcome b = build_body(a.data, &read_file);
    if (b.err) return {exit_read, "cannot read " + b.file + ": " + std::strerror(b.err)};
    d.body = std::move(b.body);
    d.json = b.json;
    d.has_body = !a.data.empty();
    if (!a.form.empty()) return add_form(h, a, d);
    if (d.has_body && !a.get) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, d.body.data());
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(d.body.size()));
    }
    return {};
}

setup_error set_upload(CURL* h, const cli_args& a, http_request_data& d) {
    if (a.upload_file.empty()) return {};
    if (a.upload_file == "-") {
        d.upload = stdin;
    } else {
        d.upload = std::fopen(a.upload_file.c_str(), "rbe");
        if (!d.upload)
            return {exit_read, "cannot read " + a.upload_file + ": " + std::strerror(errno)};
        struct stat st {};
        if (::fstat(fileno(d.upload), &st) == 0 && S_ISREG(st.st_mode))
            curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, curl_off_t(st.st_size));
    }
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READDATA, d.upload);
    return {};
}

void set_headers(CURL* h, const cli_args& a, http_request_data& d) {
    std::vector<std::string> headers;
    // --json's two headers, unless the user set them: libcurl would send both.
    if (d.json && !has_header(a, "Content-Type"))
        headers.push_back("Content-Type: application/json");
    if (d.json && !has_header(a, "Accept")) headers.push_back("Accept: application/json");
    headers.insert(headers.end(), a.headers.begin(), a.headers.end());
    if (!headers.empty()) curl_easy_setopt(h, CURLOPT_HTTPHEADER, list_of(d, headers));
    curl_easy_setopt(h, CURLOPT_USERAGENT, d.user_agent.c_str());
    if (!a.referer.empty()) curl_easy_setopt(h, CURLOPT_REFERER, a.referer.c_str());
    if (!a.user.empty()) curl_easy_setopt(h, CURLOPT_USERPWD, a.user.c_str());
    if (a.compressed) curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    // -b: a string with '=' is cookies to send, anything else a file to read them from.
    if (!a.cookie.empty()) {
        bool inline_cookies = a.cookie.find('=') != std::string::npos;
        curl_easy_setopt(h, inline_cookies ? CURLOPT_COOKIE : CURLOPT_COOKIEFILE, a.cookie.c_str());
    }
    if (!a.cookie_jar.empty()) {
        curl_easy_setopt(h, CURLOPT_COOKIEJAR, a.cookie_jar.c_str());
        curl_easy_setopt(h, CURLOPT_COOKIEFILE, "");  // turns the cookie engine on
    }
}

void set_method(CURL* h, const cli_args& a) {
    if (a.head) curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    if (a.get) curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    if (!a.method.empty()) curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, a.method.c_str());
}

long http_version_value(http_version v) {
    switch (v) {
        case http_version::v1_0:
            return CURL_HTTP_VERSION_1_0;
        case http_version::v1_1:
            return CURL_HTTP_VERSION_1_1;
        case http_version::v2:
            return CURL_HTTP_VERSION_2_0;
        case http_version::v2_prior_knowledge:
            return CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
        case http_version::any:
            break;
    }
    return CURL_HTTP_VERSION_2TLS;  // curl's default: HTTP/2 over TLS when ALPN agrees
}

void set_connection(CURL* h, const cli_args& a, http_request_data& d) {
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, http_version_value(a.version));
    if (a.family)
        curl_easy_setopt(h, CURLOPT_IPRESOLVE,
                         a.family == AF_INET ? CURL_IPRESOLVE_V4 : CURL_IPRESOLVE_V6);
    if (a.insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (!a.cacert.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, a.cacert.c_str());
    if (!a.capath.empty()) curl_easy_setopt(h, CURLOPT_CAPATH, a.capath.c_str());
    if (!a.resolve.empty()) curl_easy_setopt(h, CURLOPT_RESOLVE, list_of(d, a.resolve));
    if (!a.connect_to.empty()) curl_easy_setopt(h, CURLOPT_CONNECT_TO, list_of(d, a.connect_to));
    if (!a.proxy.empty()) curl_easy_setopt(h, CURLOPT_PROXY, a.proxy.c_str());
    if (!a.noproxy.empty()) curl_easy_setopt(h, CURLOPT_NOPROXY, a.noproxy.c_str());
    if (a.location) curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, a.max_redirs);
    if (a.fail) curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
    if (a.max_time > 0) curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, long(a.max_time * 1000));
    if (a.connect_timeout > 0)
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, long(a.connect_timeout * 1000));
    if (a.verbose) install_trace(h);
    if (a.write_out.find("certs") != std::string::npos) curl_easy_setopt(h, CURLOPT_CERTINFO, 1L);
}

}  // namespace

http_request_data::~http_request_data() {
    for (curl_slist* l : lists) curl_slist_free_all(l);
    if (form) curl_mime_free(form);
    if (upload && upload != stdin) std::fclose(upload);
}

setup_error configure_handle(CURL* h, const cli_args& a, http_request_data& d) {
    if (setup_error e = set_body(h, a, d); e.exit) return e;
    if (setup_error e = set_upload(h, a, d); e.exit) return e;
    set_headers(h, a, d);
    set_method(h, a);
    set_connection(h, a, d);
    return {};
}

std::string effective_request_url(const cli_args& a, const http_request_data& d,
                                  const std::string& url) {
    std::string u = url;
    if (a.get && d.has_body) {
        size_t hash = u.find('#');
        std::string frag = hash == std::string::npos ? "" : u.substr(hash);
        u = u.substr(0, hash);
        u += (u.find('?') == std::string::npos ? "?" : "&") + d.body + frag;
    }
    if (!a.upload_file.empty() && a.upload_file != "-" && !u.empty() && u.back() == '/')
        u += a.upload_file.substr(a.upload_file.rfind('/') + 1);
    return u;
}

std::string remote_file_name(const std::string& url) {
    std::string path = url_part(url, CURLUPART_PATH);
    return path.substr(path.rfind('/') + 1);
}

}  // namespace cxcli
