// reserved_ports_fuzz.cpp - libFuzzer target for the parsers of ip_local_reserved_ports and
// ip_local_port_range. A refused text must leave the bitmap empty; an accepted one must describe
// the same set when printed back in the kernel's format and parsed again.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "port_range.hpp"

namespace {
// The set in the kernel's own format: "a,b-c,...".
std::string print(const cx::detail::reserved_ports& r) {
    std::string out;
    for (uint32_t p = 0; p < 65536;) {
        if (!r.test(uint16_t(p))) {
            ++p;
            continue;
        }
        uint32_t q = p;
        while (q + 1 < 65536 && r.test(uint16_t(q + 1))) ++q;
        if (!out.empty()) out += ',';
        out += std::to_string(p);
        if (q != p) out += '-' + std::to_string(q);
        p = q + 1;
    }
    return out + "\n";
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    static cx::detail::reserved_ports r, again;
    if (!r.parse(text)) {
        if (!r.empty()) std::abort();
    } else if (!again.parse(print(r)) || !(again == r)) {
        std::abort();
    }
    if (auto span = cx::detail::parse_port_range(text))
        if (span->lo == 0 || span->lo > span->hi) std::abort();
    return 0;
}
