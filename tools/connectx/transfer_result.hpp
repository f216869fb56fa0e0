// transfer_result.hpp - what a transfer over an open connection reports back to main.
#pragma once

#include <cstdint>
#include <string>

namespace cxcli {

struct transfer_result {
    int exit = 0;           // exit_code
    std::string error;      // the reason when exit != 0
    int http_code = 0;      // 0 when no HTTP response head arrived
    uint64_t received = 0;  // body bytes (HTTP) or payload bytes (tcp://, udp://)
    uint64_t sent = 0;      // request body bytes (HTTP) or payload bytes
};

}  // namespace cxcli
