// cli_servers.hpp - real servers for the connectx(1) tests, each on its own thread in the
// caller's network namespace: an HTTP/1.1 keep-alive server with a few behaviours chosen by path,
// and a TCP or UDP echo. They listen on the addresses given (port 0: any) and report the port.
// Also the one route kind the CLI tests need that tests/support/rtnl does not add: a typed route
// (blackhole, prohibit).
#pragma once

#include <atomic>
#include <connectx/connectx.hpp>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace cxtest {

// Paths:
//   /          200, "hello\n", Content-Length, connection kept open
//   /chunked   200, "hello\n" in two chunks
//   /echo      200, the request head and body as received
//   /close     200, "bye\n" delimited by closing the connection (no Content-Length)
//   /empty     closes without answering
//   /short     200 announcing 10 bytes, sends 3, closes
//   /slow      never answers
//   other      404, "not found\n"
class http_server {
public:
    explicit http_server(const std::vector<cx::address>& listen_on);
    ~http_server();
    http_server(const http_server&) = delete;
    http_server& operator=(const http_server&) = delete;

    uint16_t port(size_t i = 0) const { return ports_.at(i); }
    int connections() const { return connections_.load(); }
    int requests() const { return requests_.load(); }
    // Peer address of each accepted connection, in order ("127.0.0.1:40001").
    std::vector<std::string> peers() const;

private:
    void loop();

    std::vector<int> listeners_;
    std::vector<uint16_t> ports_;
    int stop_[2] = {-1, -1};
    std::atomic<int> connections_{0};
    std::atomic<int> requests_{0};
    mutable std::mutex mu_;
    std::vector<std::string> peers_;
    std::thread thread_;
};

// Echoes every datagram (UDP) or byte stream (TCP, closing after the peer's EOF) back.
class echo_server {
public:
    echo_server(const cx::address& at, int type);
    ~echo_server();
    echo_server(const echo_server&) = delete;
    echo_server& operator=(const echo_server&) = delete;

    uint16_t port() const { return port_; }
    int datagrams() const { return datagrams_.load(); }

private:
    void loop();

    int fd_ = -1;
    int type_;
    uint16_t port_ = 0;
    int stop_[2] = {-1, -1};
    std::atomic<int> datagrams_{0};
    std::thread thread_;
};

// Adds a route of `type` (RTN_BLACKHOLE, RTN_UNREACHABLE, RTN_PROHIBIT) to the IPv4 prefix
// ip/len in the caller's network namespace. Returns 0 or the kernel's errno.
int add_ipv4_route_of_type(const char* ip, int prefix_len, unsigned char type);

}  // namespace cxtest
