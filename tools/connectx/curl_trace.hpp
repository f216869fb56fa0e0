// curl_trace.hpp - -v: libcurl's debug callback printed the way curl's -v prints it ("* " for
// libcurl's notes, "> " and "< " before each header line, "{ [N bytes data]" once per run of
// data when standard error is not a terminal).
#pragma once

#include <curl/curl.h>

namespace cxcli {

void install_trace(CURL* h);

}  // namespace cxcli
