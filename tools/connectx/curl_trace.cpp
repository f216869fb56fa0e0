// curl_trace.cpp - curl's -v format over CURLOPT_DEBUGFUNCTION.
#include "curl_trace.hpp"

#include <unistd.h>

#include <string>
#include <string_view>

#include "io.hpp"

namespace cxcli {
namespace {

// Each line of a header block with its prefix, the line ends kept as received.
std::string prefixed_lines(std::string_view prefix, std::string_view block) {
    std::string out;
    while (!block.empty()) {
        size_t nl = block.find('\n');
        size_t n = nl == std::string_view::npos ? block.size() : nl + 1;
        out.append(prefix).append(block.substr(0, n));
        block.remove_prefix(n);
    }
    return out;
}

int on_debug(CURL*, curl_infotype type, char* data, size_t size, void* arg) {
    bool& traced_data = *static_cast<bool*>(arg);
    std::string_view d(data, size);
    std::string out;
    switch (type) {
        case CURLINFO_TEXT:
            out = "* " + std::string(d);
            break;
        case CURLINFO_HEADER_OUT:
            out = prefixed_lines("> ", d);
            break;
        case CURLINFO_HEADER_IN:
            out = prefixed_lines("< ", d);
            break;
        case CURLINFO_DATA_IN:
        case CURLINFO_DATA_OUT:
        case CURLINFO_SSL_DATA_IN:
        case CURLINFO_SSL_DATA_OUT:
            if (traced_data || ::isatty(STDERR_FILENO)) return 0;
            traced_data = true;
            out =
                std::string(type == CURLINFO_DATA_IN || type == CURLINFO_SSL_DATA_IN ? "{" : "}") +
                " [" + std::to_string(size) + " bytes data]\n";
            write_all(STDERR_FILENO, out);
            return 0;
        default:
            return 0;
    }
    traced_data = false;
    write_all(STDERR_FILENO, out);
    return 0;
}

bool g_traced_data = false;  // one process, one handle: curl keeps this flag global too

}  // namespace

void install_trace(CURL* h) {
    curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, &on_debug);
    curl_easy_setopt(h, CURLOPT_DEBUGDATA, &g_traced_data);
    curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
}

}  // namespace cxcli
