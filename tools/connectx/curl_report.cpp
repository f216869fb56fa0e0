// curl_report.cpp - curl 7.88's -w variables from CURLINFO_*, in curl's order (by name, the
// order of %{json}), with connectx's %{technique} in its alphabetical place.
#include "curl_report.hpp"

#include <algorithm>

namespace cxcli {
namespace {

using type = wo_value::type;

wo_value integer(int64_t v, int digits = 0) {
    return {type::integer, v, digits, std::nullopt};
}
wo_value text(std::optional<std::string> v) {
    return {type::string, 0, 0, std::move(v)};
}

wo_value info_long(CURL* h, CURLINFO what, int digits = 0) {
    long v = 0;
    curl_easy_getinfo(h, what, &v);
    return integer(v, digits);
}

wo_value info_off(CURL* h, CURLINFO what, type kind = type::integer) {
    curl_off_t v = 0;
    curl_easy_getinfo(h, what, &v);
    wo_value out = integer(v);
    out.kind = kind;
    return out;
}

// A string; absent as null, or as "" where curl prints "" (the IP addresses).
wo_value info_string(CURL* h, CURLINFO what, bool empty_when_absent = false) {
    char* v = nullptr;
    curl_easy_getinfo(h, what, &v);
    if (v) return text(std::string(v));
    return text(empty_when_absent ? std::optional<std::string>("") : std::nullopt);
}

wo_value http_version_value(CURL* h) {
    long v = 0;
    curl_easy_getinfo(h, CURLINFO_HTTP_VERSION, &v);
    switch (v) {
        case CURL_HTTP_VERSION_1_0:
            return text("1");
        case CURL_HTTP_VERSION_1_1:
            return text("1.1");
        case CURL_HTTP_VERSION_2_0:
            return text("2");
        case CURL_HTTP_VERSION_3:
            return text("3");
    }
    return text("0");
}

// %{certs}: each certificate's fields one a line, as curl prints them: the PEM of the "Cert"
// field without its name (it ends in a newline of its own).
std::pair<wo_value, wo_value> certs(CURL* h) {
    curl_certinfo* ci = nullptr;
    std::string all;
    int n = 0;
    if (curl_easy_getinfo(h, CURLINFO_CERTINFO, &ci) == CURLE_OK && ci) {
        n = ci->num_of_certs;
        for (int i = 0; i < n; ++i) {
            for (curl_slist* s = ci->certinfo[i]; s; s = s->next) {
                std::string field = s->data;
                if (field.compare(0, 5, "Cert:") == 0) field.erase(0, 5);
                all += field;
                if (field.empty() || field.back() != '\n') all += '\n';
            }
        }
    }
    return {text(all), integer(n)};
}

}  // namespace

write_out_report collect_report(CURL* h, const transfer_facts& f) {
    write_out_report r;
    auto [cert_text, cert_count] = certs(h);
    std::optional<std::string> technique;
    if (f.conn) technique = connectx_technique_name(f.conn->technique);
    auto optional_text = [](const std::string& s) {
        return text(s.empty() ? std::nullopt : std::optional<std::string>(s));
    };
    r.vars = {
        {"certs", cert_text},
        {"content_type", info_string(h, CURLINFO_CONTENT_TYPE)},
        {"errormsg", optional_text(f.exit_code ? f.errormsg : "")},
        {"exitcode", integer(f.exit_code)},
        {"filename_effective", optional_text(f.filename)},
        {"ftp_entry_path", text(std::nullopt)},
        {"http_code", info_long(h, CURLINFO_RESPONSE_CODE, 3)},
        {"http_connect", info_long(h, CURLINFO_HTTP_CONNECTCODE, 3)},
        {"http_version", http_version_value(h)},
        {"local_ip", info_string(h, CURLINFO_LOCAL_IP, true)},
        {"local_port", info_long(h, CURLINFO_LOCAL_PORT)},
        {"method", info_string(h, CURLINFO_EFFECTIVE_METHOD)},
        {"num_certs", cert_count},
        {"num_connects", info_long(h, CURLINFO_NUM_CONNECTS)},
        {"num_headers", integer(f.headers ? int64_t(f.headers->size()) : 0)},
        {"num_redirects", info_long(h, CURLINFO_REDIRECT_COUNT)},
        {"proxy_ssl_verify_result", info_long(h, CURLINFO_PROXY_SSL_VERIFYRESULT)},
        {"redirect_url", info_string(h, CURLINFO_REDIRECT_URL)},
        {"referer", info_string(h, CURLINFO_REFERER)},
        {"remote_ip", info_string(h, CURLINFO_PRIMARY_IP, true)},
        {"remote_port", info_long(h, CURLINFO_PRIMARY_PORT)},
        {"response_code", info_long(h, CURLINFO_RESPONSE_CODE, 3)},
        {"scheme", info_string(h, CURLINFO_SCHEME)},
        {"size_download", info_off(h, CURLINFO_SIZE_DOWNLOAD_T)},
        {"size_header", info_long(h, CURLINFO_HEADER_SIZE)},
        {"size_request", info_long(h, CURLINFO_REQUEST_SIZE)},
        {"size_upload", info_off(h, CURLINFO_SIZE_UPLOAD_T)},
        {"speed_download", info_off(h, CURLINFO_SPEED_DOWNLOAD_T)},
        {"speed_upload", info_off(h, CURLINFO_SPEED_UPLOAD_T)},
        {"ssl_verify_result", info_long(h, CURLINFO_SSL_VERIFYRESULT)},
        {"technique", text(technique)},
        {"time_appconnect", info_off(h, CURLINFO_APPCONNECT_TIME_T, type::seconds)},
        {"time_connect", info_off(h, CURLINFO_CONNECT_TIME_T, type::seconds)},
        {"time_namelookup", info_off(h, CURLINFO_NAMELOOKUP_TIME_T, type::seconds)},
        {"time_pretransfer", info_off(h, CURLINFO_PRETRANSFER_TIME_T, type::seconds)},
        {"time_redirect", info_off(h, CURLINFO_REDIRECT_TIME_T, type::seconds)},
        {"time_starttransfer", info_off(h, CURLINFO_STARTTRANSFER_TIME_T, type::seconds)},
        {"time_total", info_off(h, CURLINFO_TOTAL_TIME_T, type::seconds)},
        {"url", text(f.url)},
        {"url_effective", info_string(h, CURLINFO_EFFECTIVE_URL)},
        {"urlnum", integer(f.urlnum)},
    };
    if (f.headers) r.headers = *f.headers;
    r.curl_version = curl_version();
    r.exit_code = f.exit_code;
    return r;
}

}  // namespace cxcli
