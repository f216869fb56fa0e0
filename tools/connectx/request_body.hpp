// request_body.hpp - the bytes of -d, --data-binary, --data-raw, --data-urlencode and --json,
// joined as curl joins them: '&' between pieces, nothing between consecutive --json pieces.
#pragma once

#include <string>
#include <vector>

#include "cli_args.hpp"

namespace cxcli {

struct body_outcome {
    std::string body;
    bool json = false;  // some piece came from --json: JSON content type and accept
    int err = 0;        // errno of a file that could not be read
    std::string file;   // that file
};

// `read` loads "@file" contents ("-" = standard input): returns 0 or an errno.
using file_reader = int (*)(const char* path, std::string& out);

body_outcome build_body(const std::vector<data_arg>& data, file_reader read);

// curl's --data-urlencode encoding: space as '+', every other byte but A-Z a-z 0-9 - . _ ~ as
// %XX.
std::string url_encode(const std::string& s);

}  // namespace cxcli
