// output_sink.hpp - where response bytes go: standard output or a file (-o, -O, -D) opened at
// the first byte, as curl does, so a failed transfer leaves no empty file behind.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace cxcli {

class output_sink {
public:
    output_sink() = default;  // standard output
    explicit output_sink(std::string path) : path_(std::move(path)) {}
    ~output_sink() { close(); }
    output_sink(const output_sink&) = delete;
    output_sink& operator=(const output_sink&) = delete;

    // Writes all of `data`; false (with a warning on stderr) when the file cannot be opened or
    // written.
    bool write(const char* data, size_t len);
    // Creates the file even when nothing was written (a successful empty transfer).
    bool touch();
    // Forgets what was written to a file, for a retry; false for standard output.
    bool rewind();
    // Closes the file; returns 0 or the errno of the last write or close.
    int close();

    const std::string& path() const { return path_; }
    bool is_stdout() const { return path_.empty() || path_ == "-"; }
    uint64_t written() const { return written_; }

private:
    bool open();

    std::string path_;
    FILE* f_ = nullptr;
    int err_ = 0;
    uint64_t written_ = 0;
};

}  // namespace cxcli
