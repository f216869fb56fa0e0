// curl_sockets.cpp - libcurl's socket callbacks over connectx().
#include "curl_sockets.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace cxcli {

void curl_sockets::install(CURL* h) {
    curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, &curl_sockets::open_socket);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, this);
    curl_easy_setopt(h, CURLOPT_SOCKOPTFUNCTION, &curl_sockets::connect_socket_cb);
    curl_easy_setopt(h, CURLOPT_SOCKOPTDATA, this);
    curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, &curl_sockets::close_socket);
    curl_easy_setopt(h, CURLOPT_CLOSESOCKETDATA, this);
}

void curl_sockets::start_transfer(const std::string& host, const deadline& max_time,
                                  double connect_timeout) {
    constexpr double kCurlDefaultConnectTimeout = 300;
    req_.host = host;
    max_time_ = max_time;
    connect_timeout_ = connect_timeout > 0 ? connect_timeout : kCurlDefaultConnectTimeout;
    req_.start = clock::now();
    failure_.reset();
}

const connection* curl_sockets::find(const std::string& local_ip, long local_port,
                                     const std::string& remote_ip, long remote_port) const {
    // libcurl writes a link-local address without its zone.
    auto bare = [](const cx::address& a) {
        std::string ip = a.ip_string();
        return ip.substr(0, ip.find('%'));
    };
    for (auto it = made_.rbegin(); it != made_.rend(); ++it)
        if (bare(it->local) == local_ip && it->local.port() == local_port &&
            bare(it->remote) == remote_ip && it->remote.port() == remote_port)
            return &*it;
    return nullptr;
}

// Non-blocking from the start: connect_socket() waits for the handshake with poll() so that
// --connect-timeout and -m hold.
curl_socket_t curl_sockets::open_socket(void* self, curlsocktype purpose, curl_sockaddr* a) {
    auto* s = static_cast<curl_sockets*>(self);
    if (purpose != CURLSOCKTYPE_IPCXN) return CURL_SOCKET_BAD;
    int fd = ::socket(a->family, a->socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->protocol);
    if (fd < 0) return CURL_SOCKET_BAD;
    auto dst = cx::address::from_sockaddr(&a->addr, a->addrlen);
    if (!dst) {
        ::close(fd);
        return CURL_SOCKET_BAD;
    }
    s->pending_[fd] = *dst;
    return fd;
}

int curl_sockets::connect_socket_cb(void* self, curl_socket_t fd, curlsocktype purpose) {
    auto* s = static_cast<curl_sockets*>(self);
    auto it = s->pending_.find(fd);
    if (purpose != CURLSOCKTYPE_IPCXN || it == s->pending_.end()) return CURL_SOCKOPT_OK;
    cx::address dst = it->second;
    s->pending_.erase(it);
    // Each connection gets the whole connect timeout, within what is left of -m.
    deadline connect_by = deadline::after(s->connect_timeout_);
    s->req_.until = deadline::earliest(connect_by, s->max_time_);
    s->req_.until_is_connect_timeout = !s->max_time_.sooner_than(connect_by);
    connect_outcome c = connect_socket(fd, s->req_, dst);
    if (c.exit != 0) {
        s->failure_ = std::move(c);
        return CURL_SOCKOPT_ERROR;
    }
    s->made_.push_back(std::move(c.conn));
    return CURL_SOCKOPT_ALREADY_CONNECTED;
}

int curl_sockets::close_socket(void* self, curl_socket_t fd) {
    auto* s = static_cast<curl_sockets*>(self);
    s->pending_.erase(fd);
    return ::close(fd);
}

}  // namespace cxcli
