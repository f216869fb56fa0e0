// curl_report.hpp - what -w can print about a finished transfer, read from libcurl's
// CURLINFO_* values and connectx's own record of the connection.
#pragma once

#include <curl/curl.h>

#include <string>
#include <utility>
#include <vector>

#include "connector.hpp"
#include "write_out.hpp"

namespace cxcli {

using header_list = std::vector<std::pair<std::string, std::string>>;

struct transfer_facts {
    const header_list* headers = nullptr;  // of the last response
    std::string url;                       // as the user gave it
    int urlnum = 0;
    std::string filename;  // -o/-O, "" for standard output
    int exit_code = 0;
    std::string errormsg;
    const connection* conn = nullptr;  // what connectx did, when it made the connection
};

write_out_report collect_report(CURL* h, const transfer_facts& f);

}  // namespace cxcli
