// stream_io.hpp - tcp:// and udp://: send the input (-d data, else standard input) and write
// what comes back to the output, until the peer closes (TCP), the idle timeout after the input
// ends, or the -m deadline.
#pragma once

#include <optional>
#include <string>

#include "io.hpp"
#include "transfer_result.hpp"

namespace cxcli {

struct stream_options {
    bool udp = false;
    const std::string* data = nullptr;  // -d; nullptr = read standard input
    double idle_timeout = 0;            // seconds of silence after the input ends; 0 = none
    bool verbose = false;
};

transfer_result stream_transfer(int sock, const stream_options& opt, int out_fd,
                                const deadline& until, clock::time_point start);

}  // namespace cxcli
