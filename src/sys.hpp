// sys.hpp - the one thin layer over the system calls the library makes. Each wrapper captures
// errno at the call and returns it as a value: 0 on success, else the errno. An owning fd type
// closes on scope exit. Nothing here allocates.
#pragma once

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <utility>

namespace cx::detail {

// Owns a file descriptor; closes it on destruction. Move-only.
class unique_fd {
public:
    unique_fd() noexcept = default;
    explicit unique_fd(int fd) noexcept : fd_(fd) {}
    unique_fd(unique_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    unique_fd& operator=(unique_fd&& o) noexcept {
        if (this != &o) reset(std::exchange(o.fd_, -1));
        return *this;
    }
    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;
    ~unique_fd() { reset(); }

    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }
    int release() noexcept { return std::exchange(fd_, -1); }
    void reset(int fd = -1) noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_ = -1;
};

namespace sys {

[[nodiscard]] inline int err(int rc) noexcept {
    return rc < 0 ? errno : 0;
}

// Not [[nodiscard]] (yet): the UDP path calls it and disconnect() as best-effort restores that
// ignore the result; new code says so with restore_int().
inline int setsockopt_int(int fd, int level, int name, int value) noexcept {
    return err(::setsockopt(fd, level, name, &value, sizeof value));
}
// A best-effort restore of an option on a path that is already failing: its own error would
// only hide the one being reported.
inline void restore_int(int fd, int level, int name, int value) noexcept {
    (void)::setsockopt(fd, level, name, &value, sizeof value);
}
[[nodiscard]] inline int getsockopt_int(int fd, int level, int name, int& value) noexcept {
    socklen_t len = sizeof value;
    return err(::getsockopt(fd, level, name, &value, &len));
}
[[nodiscard]] inline int getsockopt_u64(int fd, int level, int name, uint64_t& value) noexcept {
    socklen_t len = sizeof value;
    return err(::getsockopt(fd, level, name, &value, &len));
}
[[nodiscard]] inline int bind(int fd, const sockaddr* sa, socklen_t len) noexcept {
    return err(::bind(fd, sa, len));
}
[[nodiscard]] inline int connect(int fd, const sockaddr* sa, socklen_t len) noexcept {
    return err(::connect(fd, sa, len));
}
// Dissolve a UDP association (and with it the autobound state of nothing: the port stays bound).
inline int disconnect(int fd) noexcept {
    sockaddr sa{};
    sa.sa_family = AF_UNSPEC;
    return err(::connect(fd, &sa, sizeof sa));
}
[[nodiscard]] inline int getsockname(int fd, sockaddr* sa, socklen_t& len) noexcept {
    return err(::getsockname(fd, sa, &len));
}
[[nodiscard]] inline int getpeername(int fd, sockaddr* sa, socklen_t& len) noexcept {
    return err(::getpeername(fd, sa, &len));
}
// socket(2) with SOCK_CLOEXEC always set: 0 and the socket in `out`, or the errno.
[[nodiscard]] inline int socket(int domain, int type, int protocol, unique_fd& out) noexcept {
    int fd = ::socket(domain, type | SOCK_CLOEXEC, protocol);
    if (fd < 0) return errno;
    out.reset(fd);
    return 0;
}

}  // namespace sys
}  // namespace cx::detail
