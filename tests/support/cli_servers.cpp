// cli_servers.cpp - the HTTP/1.1 keep-alive server and the echo servers of cli_servers.hpp: one
// poll loop per server thread, stopped through a pipe and joined by the destructor.
#include "cli_servers.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <map>

#include "netns.hpp"
#include "tools/common/rtnl.hpp"

namespace cxtest {
namespace {

uint16_t bound_port(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
    auto a = cx::address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
    return a ? a->port() : 0;
}

void send_all(int fd, const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
        if (n <= 0 && errno == EINTR) continue;
        if (n <= 0) return;  // the client went away: nothing to report
        off += size_t(n);
    }
}

std::string lower(std::string s) {
    for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

struct http_conn {
    std::string in;
    bool stalled = false;  // /slow: never answer again
};

// Answers every complete request in `c.in`. Returns false when the connection must close.
bool serve_requests(int fd, http_conn& c, std::atomic<int>& requests) {
    for (;;) {
        if (c.stalled) {
            c.in.clear();
            return true;
        }
        size_t head_end = c.in.find("\r\n\r\n");
        if (head_end == std::string::npos) return true;
        std::string head = c.in.substr(0, head_end + 4);
        size_t length = 0;
        std::string lhead = lower(head);
        if (size_t p = lhead.find("\r\ncontent-length:"); p != std::string::npos)
            length = std::strtoul(head.c_str() + p + 17, nullptr, 10);
        if (c.in.size() < head.size() + length) return true;
        std::string body = c.in.substr(head.size(), length);
        c.in.erase(0, head.size() + length);
        ++requests;

        size_t sp1 = head.find(' ');
        size_t sp2 = head.find(' ', sp1 + 1);
        std::string method = head.substr(0, sp1);
        std::string path = head.substr(sp1 + 1, sp2 - sp1 - 1);
        bool is_head = method == "HEAD";
        auto reply = [&](const std::string& status, const std::string& payload) {
            std::string r = "HTTP/1.1 " + status +
                            "\r\nContent-Length: " + std::to_string(payload.size()) +
                            "\r\nX-Server: cxtest\r\n\r\n";
            if (!is_head) r += payload;
            send_all(fd, r);
        };
        if (path == "/") {
            reply("200 OK", "hello\n");
        } else if (path == "/chunked") {
            send_all(fd,
                     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "3\r\nhel\r\n3;ext=1\r\nlo\n\r\n0\r\nX-Trailer: t\r\n\r\n");
        } else if (path == "/echo") {
            reply("200 OK", head + body);
        } else if (path == "/close") {
            send_all(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbye\n");
            return false;
        } else if (path == "/empty") {
            return false;
        } else if (path == "/short") {
            send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
            return false;
        } else if (path == "/slow") {
            c.stalled = true;
        } else {
            reply("404 Not Found", "not found\n");
        }
    }
}

}  // namespace

http_server::http_server(const std::vector<cx::address>& listen_on) {
    for (const auto& at : listen_on) {
        int fd = tcp_listener(at);
        listeners_.push_back(fd);
        ports_.push_back(fd >= 0 ? bound_port(fd) : 0);
    }
    EXPECT_EQ(::pipe2(stop_, O_CLOEXEC), 0);
    thread_ = std::thread([this] { loop(); });
}

http_server::~http_server() {
    char x = 0;
    EXPECT_EQ(::write(stop_[1], &x, 1), 1);
    thread_.join();
    for (int fd : listeners_) ::close(fd);
    ::close(stop_[0]);
    ::close(stop_[1]);
}

std::vector<std::string> http_server::peers() const {
    std::lock_guard<std::mutex> lock(mu_);
    return peers_;
}

void http_server::loop() {
    std::map<int, http_conn> conns;
    for (;;) {
        std::vector<pollfd> fds{{stop_[0], POLLIN, 0}};
        for (int l : listeners_) fds.push_back({l, POLLIN, 0});
        for (auto& [fd, c] : conns) fds.push_back({fd, POLLIN, 0});
        if (::poll(fds.data(), fds.size(), -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (fds[0].revents) break;
        for (size_t i = 1; i < fds.size(); ++i) {
            if (!fds[i].revents) continue;
            int fd = fds[i].fd;
            if (i <= listeners_.size()) {
                sockaddr_storage ss{};
                socklen_t len = sizeof ss;
                int c = ::accept4(fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC);
                if (c < 0) continue;
                ++connections_;
                auto peer = cx::address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
                std::lock_guard<std::mutex> lock(mu_);
                peers_.push_back(peer ? peer->to_string() : "?");
                conns[c];
                continue;
            }
            char buf[16384];
            ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            auto& c = conns[fd];
            if (n > 0) c.in.append(buf, size_t(n));
            if (n <= 0 || !serve_requests(fd, c, requests_)) {
                ::close(fd);
                conns.erase(fd);
            }
        }
    }
    for (auto& [fd, c] : conns) ::close(fd);
}

echo_server::echo_server(const cx::address& at, int type) : type_(type) {
    if (type == SOCK_DGRAM) {
        fd_ = udp_bound(at);
    } else {
        fd_ = tcp_listener(at);
    }
    port_ = fd_ >= 0 ? bound_port(fd_) : 0;
    EXPECT_EQ(::pipe2(stop_, O_CLOEXEC), 0);
    thread_ = std::thread([this] { loop(); });
}

echo_server::~echo_server() {
    char x = 0;
    EXPECT_EQ(::write(stop_[1], &x, 1), 1);
    thread_.join();
    ::close(fd_);
    ::close(stop_[0]);
    ::close(stop_[1]);
}

void echo_server::loop() {
    std::vector<int> conns;  // TCP
    char buf[65536];
    for (;;) {
        std::vector<pollfd> fds{{stop_[0], POLLIN, 0}, {fd_, POLLIN, 0}};
        for (int c : conns) fds.push_back({c, POLLIN, 0});
        if (::poll(fds.data(), fds.size(), -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (fds[0].revents) break;
        if (fds[1].revents && type_ == SOCK_DGRAM) {
            sockaddr_storage from{};
            socklen_t len = sizeof from;
            ssize_t n =
                ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
            if (n >= 0) {
                ++datagrams_;
                ::sendto(fd_, buf, size_t(n), 0, reinterpret_cast<sockaddr*>(&from), len);
            }
        } else if (fds[1].revents) {
            int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (c >= 0) conns.push_back(c);
        }
        for (size_t i = 2; i < fds.size(); ++i) {
            if (!fds[i].revents) continue;
            ssize_t n = ::recv(fds[i].fd, buf, sizeof buf, 0);
            if (n > 0) {
                send_all(fds[i].fd, std::string(buf, size_t(n)));
                continue;
            }
            ::close(fds[i].fd);  // EOF: echo done, close so the client sees its EOF
            std::erase(conns, fds[i].fd);
        }
    }
    for (int c : conns) ::close(c);
}

int add_ipv4_route_of_type(const char* ip, int prefix_len, unsigned char type) {
    in_addr dst{};
    if (::inet_pton(AF_INET, ip, &dst) != 1) return EINVAL;
    char buf[1024];
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_NEWROUTE;
    nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
    auto* rt = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
    rt->rtm_family = AF_INET;
    rt->rtm_dst_len = uint8_t(prefix_len);
    rt->rtm_table = RT_TABLE_MAIN;
    rt->rtm_protocol = RTPROT_STATIC;
    rt->rtm_scope = RT_SCOPE_UNIVERSE;
    rt->rtm_type = type;
    mnl_attr_put(nlh, RTA_DST, sizeof dst, &dst);
    return cxcommon::rtnl_transact(nlh);
}

}  // namespace cxtest
