// output_sink.cpp - standard output or a lazily opened file.
#include "output_sink.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "io.hpp"

namespace cxcli {

bool output_sink::open() {
    if (f_) return true;
    if (is_stdout()) {
        f_ = stdout;
        return true;
    }
    f_ = std::fopen(path_.c_str(), "wbe");
    if (!f_) {
        err_ = errno;
        trace_line("Warning: ", "Failed to open the file " + path_ + ": " + std::strerror(err_));
        return false;
    }
    return true;
}

bool output_sink::write(const char* data, size_t len) {
    if (!open()) return false;
    if (len && std::fwrite(data, 1, len, f_) != len) {
        err_ = errno ? errno : EIO;
        return false;
    }
    written_ += len;
    return true;
}

bool output_sink::touch() {
    return open();
}

bool output_sink::rewind() {
    if (is_stdout() || !f_) return !is_stdout();
    std::fflush(f_);
    written_ = 0;
    return ::ftruncate(fileno(f_), 0) == 0 && std::fseek(f_, 0, SEEK_SET) == 0;
}

int output_sink::close() {
    if (!f_) return err_;
    if (f_ == stdout) {
        if (std::fflush(stdout) != 0 && !err_) err_ = errno;
    } else if (std::fclose(f_) != 0 && !err_) {
        err_ = errno;  // a full disk or a quota shows up here
    }
    f_ = nullptr;
    return err_;
}

}  // namespace cxcli
