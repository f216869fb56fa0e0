// exit_codes.hpp - the process exit status of connectx. The numbers are curl's wherever the
// meaning is the same, so scripts written around curl keep working.
#pragma once

namespace cxcli {

enum exit_code : int {
    exit_ok = 0,
    exit_unsupported_protocol = 1,  // curl: CURLE_UNSUPPORTED_PROTOCOL
    exit_usage = 2,                 // bad command line (curl uses 2 for "failed to initialize")
    exit_url_malformed = 3,         // curl: CURLE_URL_MALFORMAT
    exit_resolve = 6,               // curl: CURLE_COULDNT_RESOLVE_HOST
    exit_connect = 7,               // curl: CURLE_COULDNT_CONNECT
    exit_weird_reply = 8,           // curl: CURLE_WEIRD_SERVER_REPLY
    exit_partial = 18,              // curl: CURLE_PARTIAL_FILE (body shorter than announced)
    exit_http_error = 22,           // curl: CURLE_HTTP_RETURNED_ERROR (-f and status >= 400)
    exit_write = 23,                // curl: CURLE_WRITE_ERROR (stdout or -o file)
    exit_read = 26,                 // curl: CURLE_READ_ERROR (stdin or -d @file)
    exit_timeout = 28,              // curl: CURLE_OPERATION_TIMEDOUT
    exit_interface = 45,            // curl: CURLE_INTERFACE_FAILED (source could not be used)
    exit_empty_reply = 52,          // curl: CURLE_GOT_NOTHING
    exit_send = 55,                 // curl: CURLE_SEND_ERROR
    exit_recv = 56,                 // curl: CURLE_RECV_ERROR
};

}  // namespace cxcli
