// kernel_file.cpp - one open, one write, one close.
#include "tools/common/kernel_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace cxcommon {

int write_file(const char* path, const std::string& value) {
    int fd = ::open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    ssize_t n = ::write(fd, value.data(), value.size());
    int e = n < 0 ? errno : (size_t(n) == value.size() ? 0 : EIO);
    ::close(fd);
    return e;
}

}  // namespace cxcommon
