// output.cpp - text or JSON on stdout, errors in the same form.
#include "output.hpp"

#include <cstdio>

namespace cxguard {
namespace {

// bpftool indents by four spaces with -p.
constexpr int kPrettyIndent = 4;

void print_json(const json& doc, bool pretty) {
    // Replace, never throw, on bytes that are not UTF-8 (a path may hold any byte but NUL).
    std::string s =
        doc.dump(pretty ? kPrettyIndent : -1, ' ', false, json::error_handler_t::replace);
    std::printf("%s\n", s.c_str());
    std::fflush(stdout);
}

}  // namespace

void output::result(const json& doc, const std::string& text) const {
    if (json_) {
        print_json(doc, pretty_);
        return;
    }
    std::fputs(text.c_str(), stdout);
    if (!text.empty() && text.back() != '\n') std::fputc('\n', stdout);
    std::fflush(stdout);
}

void output::error(const std::string& message) const {
    if (json_) {
        print_json(json{{"error", message}}, pretty_);
        return;
    }
    std::fprintf(stderr, "connectx-guard: %s\n", message.c_str());
}

}  // namespace cxguard
