// http_client.hpp - one HTTP/1.1 request and its response over a connected socket: send, parse,
// write the body (and with -i/-I the head) to the output, within the -m deadline.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "http_message.hpp"
#include "io.hpp"
#include "transfer_result.hpp"

namespace cxcli {

struct http_options {
    http_request_spec request;
    bool include_head = false;   // -i, and -I: the response head goes to the output too
    bool fail_on_error = false;  // -f: status >= 400 is exit 22 with no body written
    bool verbose = false;
};

transfer_result http_transfer(int sock, const http_options& opt, int out_fd, const deadline& until,
                              clock::time_point start);

}  // namespace cxcli
