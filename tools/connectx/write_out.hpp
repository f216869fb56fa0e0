// write_out.hpp - -w/--write-out: curl 7.88's %{variable} templates, %header{name}, %{json} and
// %{header_json}, %{stderr}/%{stdout}, %{onerror}, plus connectx's %{technique}. Pure
// formatting over a report that transfer.cpp fills from libcurl's CURLINFO_* values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cxcli {

// One value of the report: a number printed as an integer, a time printed as seconds with six
// decimals, or a string (absent strings print nothing, and null in JSON).
struct wo_value {
    enum class type { integer, seconds, string } kind = type::string;
    int64_t integer = 0;  // seconds: microseconds
    int digits = 0;       // integer: zero-padded to this width in -w text (http_code: 000)
    std::optional<std::string> text;
};

struct write_out_report {
    // Variables by curl's name, sorted by name (the order of %{json}).
    std::vector<std::pair<std::string, wo_value>> vars;
    // Response headers of the last response, names as received, in order.
    std::vector<std::pair<std::string, std::string>> headers;
    std::string curl_version;  // last key of %{json}
    int exit_code = 0;         // %{onerror} stops the output when 0
};

struct write_out_text {
    std::string out;                   // for standard output
    std::string err;                   // for standard error (%{stderr})
    std::vector<std::string> unknown;  // variable names that are not curl's (curl warns)
};

// Expands `format`: %{name}, %header{name}, %%, and the escapes \n \r \t.
write_out_text format_write_out(std::string_view format, const write_out_report& r);

// JSON string literal of `s` as curl writes it (quotes included).
std::string json_string(std::string_view s);

}  // namespace cxcli
