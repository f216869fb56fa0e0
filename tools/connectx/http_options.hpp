// http_options.hpp - the command line as libcurl options: one place that maps each curl option
// connectx accepts to its CURLOPT_*, for every URL of the run.
#pragma once

#include <curl/curl.h>

#include <memory>
#include <string>
#include <vector>

#include "cli_args.hpp"

namespace cxcli {

// What the easy handle points at and must outlive it: header lists, the form, the body.
struct http_request_data {
    std::string body;
    bool has_body = false;
    bool json = false;
    std::string user_agent;
    std::vector<curl_slist*> lists;  // freed by the destructor
    curl_mime* form = nullptr;
    FILE* upload = nullptr;  // -T; stdin is not closed
    ~http_request_data();
};

// Sets every option of `a` that is the same for all its URLs. Returns an error text (exit 26
// for a file that cannot be read, else 2) or "".
struct setup_error {
    int exit = 0;
    std::string message;
};
setup_error configure_handle(CURL* h, const cli_args& a, http_request_data& d);

// The URL libcurl fetches for the user's `url`: -G appends the data as a query, -T to a URL
// ending in '/' appends the file's name.
std::string effective_request_url(const cli_args& a, const http_request_data& d,
                                  const std::string& url);

// -O: the last path segment of `url`, or "" when it has none.
std::string remote_file_name(const std::string& url);

}  // namespace cxcli
