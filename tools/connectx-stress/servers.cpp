// servers.cpp - TCP listeners and UDP sockets on the destination addresses.
#include "servers.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace cxstress {

servers::~servers() {
    for (int fd : fds_) ::close(fd);
}

int servers::start(proto p, const endpoints& ep, int backlog, std::string& what) {
    for (const auto& d : ep.destinations) {
        int type = p == proto::tcp ? SOCK_STREAM : SOCK_DGRAM;
        int fd = ::socket(d.family(), type | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            int e = errno;
            what = "server socket";
            return e;
        }
        fds_.push_back(fd);
        if (::bind(fd, d.sa(), d.size()) < 0 || (p == proto::tcp && ::listen(fd, backlog) < 0)) {
            int e = errno;
            what = (p == proto::tcp ? "listen on " : "bind UDP server to ") + d.to_string();
            return e;
        }
    }
    return 0;
}

}  // namespace cxstress
