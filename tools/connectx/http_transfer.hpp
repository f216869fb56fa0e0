// http_transfer.hpp - http:// and https:// through libcurl: every URL of the command line in
// turn on one easy handle (so a connection is reused across them, as curl does), each
// connection made by connectx (curl_sockets), retries, outputs, -w, curl's messages and exit
// status.
#pragma once

#include <string>

#include "cli_args.hpp"
#include "connector.hpp"

namespace cxcli {

// Runs every URL of `a`; returns the exit status (the last transfer's, as curl's).
// `write_out` is -w with any @file already read; `user_agent` the default User-Agent.
int run_http(const cli_args& a, const source_spec& source, const std::string& write_out,
             const std::string& user_agent);

}  // namespace cxcli
