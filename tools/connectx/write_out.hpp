// write_out.hpp - -w/--write-out: curl's %{variable} templates over what the transfer measured.
// Pure formatting.
#pragma once

#include <connectx/connectx.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cxcli {

struct transfer_report {
    std::string url;
    std::string scheme;                // "http", "tcp", "udp"
    std::optional<cx::address> local;  // set once connected
    std::optional<cx::address> remote;
    std::string technique;       // connectx_technique_name(), "" before connecting
    int http_code = 0;           // 0 = no response (printed 000)
    double time_namelookup = 0;  // seconds since start
    double time_connect = 0;
    double time_total = 0;
    uint64_t size_download = 0;  // body bytes (http) or bytes received
    uint64_t size_upload = 0;    // body bytes sent (http) or bytes sent
    int num_connects = 0;
    int exit_code = 0;
    std::string errormsg;
};

// Expands %{name}, %% and the escapes \n \r \t \\ of `format`. Names it does not know expand to
// nothing and are appended to `unknown` (curl warns about them).
std::string format_write_out(std::string_view format, const transfer_report& r,
                             std::vector<std::string>& unknown);

}  // namespace cxcli
