// curl_sockets.hpp - libcurl's socket callbacks: every connection libcurl opens for a transfer
// (the first, a redirect's, a retry's, a proxy's, each URL's) is created here
// (CURLOPT_OPENSOCKETFUNCTION) and connected by connectx() with the source the user pinned
// before libcurl would connect it (CURLOPT_SOCKOPTFUNCTION answering
// CURL_SOCKOPT_ALREADY_CONNECTED). libcurl then makes the socket non-blocking itself and runs
// TLS and HTTP over it.
#pragma once

#include <curl/curl.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "connector.hpp"

namespace cxcli {

class curl_sockets {
public:
    // `base` gives the source, the verbosity and the host for messages; its deadline is set
    // per transfer with start_transfer().
    explicit curl_sockets(connect_request base) : req_(std::move(base)) {}
    curl_sockets(const curl_sockets&) = delete;
    curl_sockets& operator=(const curl_sockets&) = delete;

    // Installs the callbacks on `h`; this object must outlive every transfer on it.
    void install(CURL* h);

    // Before each curl_easy_perform(): the host name for messages, the transfer's deadline (-m)
    // and the time each connect may take (--connect-timeout; curl's 300 s when 0). Forgets the
    // previous transfer's failure.
    void start_transfer(const std::string& host, const deadline& max_time, double connect_timeout);

    // The last connect failure of this transfer (exit status and message), if any.
    const std::optional<connect_outcome>& failure() const { return failure_; }

    // What connectx() did for the connection with this local and remote end (CURLINFO_LOCAL_IP,
    // _LOCAL_PORT, _PRIMARY_IP, _PRIMARY_PORT), if it made it; the connection may be closed.
    const connection* find(const std::string& local_ip, long local_port,
                           const std::string& remote_ip, long remote_port) const;

private:
    static curl_socket_t open_socket(void* self, curlsocktype purpose, curl_sockaddr* addr);
    static int connect_socket_cb(void* self, curl_socket_t fd, curlsocktype purpose);
    static int close_socket(void* self, curl_socket_t fd);

    connect_request req_;
    deadline max_time_;
    double connect_timeout_ = 0;
    std::map<int, cx::address> pending_;  // created, not yet connected: fd -> destination
    std::vector<connection> made_;        // every connection connectx() made (fd member empty)
    std::optional<connect_outcome> failure_;
};

}  // namespace cxcli
