// format.cpp - shared cells and number formats.
#include "format.hpp"

#include <sys/utsname.h>

#include <cmath>
#include <cstdio>
#include <cstring>

namespace cxstress {

const char* errno_name(int e, char (&buf)[16]) noexcept {
    if (const char* name = ::strerrorname_np(e)) return name;
    std::snprintf(buf, sizeof buf, "E%d", e);
    return buf;
}

std::string outcome_cell(const scenario_result& r) {
    char buf[16];
    switch (r.stop) {
        case stop_reason::failure:
            return errno_name(r.error, buf);
        case stop_reason::limit:
            return "none (limit)";
        case stop_reason::timeout:
            return "none (timeout)";
        case stop_reason::setup_failed:
            return "setup failed";
        case stop_reason::not_built:
            return "not built";
        case stop_reason::crashed:
            return "crashed";
    }
    return "?";
}

bool has_counts(const scenario_result& r) noexcept {
    return r.stop != stop_reason::not_built && r.stop != stop_reason::setup_failed;
}

double per_second(const scenario_result& r) noexcept {
    return r.open_seconds > 0 ? double(r.established) / r.open_seconds : 0;
}

double bytes_per_connection(const scenario_result& r) noexcept {
    return r.established ? double(r.slab_delta_bytes) / double(r.established) : 0;
}

std::string grouped(uint64_t n) {
    std::string digits = std::to_string(n), s;
    for (size_t i = 0; i < digits.size(); ++i) {
        if (i && (digits.size() - i) % 3 == 0) s += ',';
        s += digits[i];
    }
    return s;
}

std::string fixed(double v, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

std::string cost_cell(double us) {
    if (us < 0) return "-";
    if (us < 10) return fixed(us, 2);
    if (us < 100) return fixed(us, 1);
    return grouped(uint64_t(std::llround(us)));
}

std::string clock_time(double seconds) {
    auto s = static_cast<unsigned long long>(seconds < 0 ? 0 : seconds);
    char buf[32];
    if (s >= 3600)
        std::snprintf(buf, sizeof buf, "%llu:%02llu:%02llu", s / 3600, s / 60 % 60, s % 60);
    else
        std::snprintf(buf, sizeof buf, "%llu:%02llu", s / 60, s % 60);
    return buf;
}

std::string kernel_release() {
    utsname u{};
    return ::uname(&u) == 0 ? u.release : "unknown";
}

const char* fill_name(fill_order f) noexcept {
    return f == fill_order::round_robin ? "round-robin" : "sequential";
}

}  // namespace cxstress
