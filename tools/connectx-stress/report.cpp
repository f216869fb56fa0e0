// report.cpp - the table, the JSON document and the progress bar.
#include "report.hpp"

#include <sys/utsname.h>

#include <algorithm>
#include <cstring>
#include <string>

#include <connectx/connectx.h>

#include "netns.hpp"

namespace cxstress {
namespace {

constexpr int kBarWidth = 30;

std::string kernel_release() {
    utsname u{};
    return ::uname(&u) == 0 ? u.release : "unknown";
}

// 1234567 -> "1,234,567"
std::string grouped(uint64_t n) {
    std::string s = std::to_string(n);
    for (int i = int(s.size()) - 3; i > 0; i -= 3) s.insert(size_t(i), ",");
    return s;
}

std::string fixed(double v, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

double per_second(const scenario_result& r) {
    return r.open_seconds > 0 ? double(r.established) / r.open_seconds : 0;
}

double bytes_per_connection(const scenario_result& r) {
    return r.established ? double(r.slab_delta_bytes) / double(r.established) : 0;
}

bool has_counts(const scenario_result& r) {
    return r.stop != stop_reason::not_built && r.stop != stop_reason::setup_failed;
}

// The "errno at exhaustion" cell.
std::string outcome_cell(const scenario_result& r) {
    char buf[16];
    switch (r.stop) {
        case stop_reason::failure: return errno_name(r.error, buf);
        case stop_reason::limit: return "none (limit)";
        case stop_reason::timeout: return "none (timeout)";
        case stop_reason::setup_failed: return "setup failed";
        case stop_reason::not_built: return "not built";
        case stop_reason::crashed: return "crashed";
    }
    return "?";
}

std::string shared_cell(const scenario_result& r) {
    if (!has_counts(r)) return "-";
    if (r.shared_local_pairs < 0) return "unknown";
    return r.shared_local_pairs ? "yes" : "no";
}

std::string duplicates_cell(const scenario_result& r) {
    if (!has_counts(r)) return "-";
    if (r.duplicate_tuples < 0) return "unknown";
    return grouped(uint64_t(r.duplicate_tuples));
}

struct column {
    const char* title;
    bool right;  // numbers align right
    std::vector<std::string> cells;
};

void print_columns(std::FILE* out, const std::vector<column>& cols) {
    std::vector<size_t> width;
    for (const auto& c : cols) {
        size_t w = std::strlen(c.title);
        for (const auto& s : c.cells) w = std::max(w, s.size());
        width.push_back(w);
    }
    size_t rows = cols.empty() ? 0 : cols[0].cells.size();
    for (size_t row = 0; row <= rows; ++row) {
        std::string line;
        for (size_t i = 0; i < cols.size(); ++i) {
            const std::string cell = row == 0 ? cols[i].title : cols[i].cells[row - 1];
            std::string pad(width[i] - cell.size(), ' ');
            bool last = i + 1 == cols.size();
            line += cols[i].right ? pad + cell : (last ? cell : cell + pad);
            if (!last) line += "  ";
        }
        std::fprintf(out, "%s\n", line.c_str());
    }
}

void json_string(std::FILE* out, const char* s) {
    std::fputc('"', out);
    for (; *s; ++s) {
        auto c = static_cast<unsigned char>(*s);
        if (c == '"' || c == '\\')
            std::fprintf(out, "\\%c", c);
        else if (c < 0x20)
            std::fprintf(out, "\\u%04x", c);
        else
            std::fputc(c, out);
    }
    std::fputc('"', out);
}

}  // namespace

const char* errno_name(int e, char (&buf)[16]) noexcept {
    if (const char* name = ::strerrorname_np(e)) return name;
    std::snprintf(buf, sizeof buf, "E%d", e);
    return buf;
}

void print_table(std::FILE* out, const config& cfg, const std::vector<scenario_result>& results) {
    std::fprintf(out,
                 "connectx-stress: source %s, %u local ports (%u-%u) x %d destinations = %s "
                 "distinct 4-tuples; %s fill; kernel %s\n\n",
                 source_address(cfg.family).ip_string().c_str(), cfg.range_size(), cfg.port_lo,
                 cfg.port_hi, cfg.destinations, grouped(cfg.capacity()).c_str(),
                 cfg.fill == fill_order::round_robin ? "round-robin" : "sequential",
                 kernel_release().c_str());
    std::vector<column> cols = {
        {"proto", false, {}},
        {"technique", false, {}},
        {"established", true, {}},
        {"errno at exhaustion", false, {}},
        {"src 2-tuple shared", false, {}},
        {"duplicate 4-tuples", true, {}},
    };
    if (cfg.scale) {
        cols.push_back({"connects/s", true, {}});
        cols.push_back({"kernel B/conn", true, {}});
        cols.push_back({"open s", true, {}});
        cols.push_back({"wall s", true, {}});
        cols.push_back({"holders", true, {}});
    }
    for (const auto& r : results) {
        const technique_info& t = info(r.technique);
        cols[0].cells.push_back(t.protocol == proto::tcp ? "tcp" : "udp");
        cols[1].cells.push_back(t.description);
        cols[2].cells.push_back(has_counts(r) ? grouped(r.established) : "-");
        cols[3].cells.push_back(outcome_cell(r));
        cols[4].cells.push_back(shared_cell(r));
        cols[5].cells.push_back(duplicates_cell(r));
        if (cfg.scale) {
            bool c = has_counts(r);
            cols[6].cells.push_back(c ? grouped(uint64_t(per_second(r))) : "-");
            cols[7].cells.push_back(c ? fixed(bytes_per_connection(r), 0) : "-");
            cols[8].cells.push_back(c ? fixed(r.open_seconds, 1) : "-");
            cols[9].cells.push_back(fixed(r.wall_seconds, 1));
            cols[10].cells.push_back(std::to_string(r.holders));
        }
    }
    print_columns(out, cols);

    // What the table cannot say in a cell.
    bool first = true;
    for (const auto& r : results) {
        std::string note;
        if (r.message[0]) note = r.message;
        else if (has_counts(r) && r.duplicate_tuples < 0 && r.diag_error)
            note = std::string("SOCK_DIAG dump failed: ") + std::strerror(r.diag_error);
        else if (r.duplicate_tuples > 0)
            note = grouped(uint64_t(r.duplicate_tuples)) +
                   " sockets share their 4-tuple with another: only the newest on a 4-tuple "
                   "receives its traffic";
        if (note.empty()) continue;
        std::fprintf(out, "%s%s: %s\n", first ? "\n" : "", info(r.technique).name, note.c_str());
        first = false;
    }
}

void print_json(std::FILE* out, const config& cfg, const std::vector<scenario_result>& results) {
    std::fprintf(out, "{\n  \"schema\": \"connectx-stress/1\",\n");
    std::fprintf(out, "  \"version\": \"%d.%d.%d\",\n", CONNECTX_VERSION_MAJOR,
                 CONNECTX_VERSION_MINOR, CONNECTX_VERSION_PATCH);
    std::fprintf(out, "  \"kernel\": ");
    json_string(out, kernel_release().c_str());
    std::fprintf(out, ",\n  \"mode\": \"%s\",\n", cfg.scale ? "scale" : "compare");
    std::fprintf(out, "  \"family\": \"%s\",\n", cfg.family == AF_INET ? "ipv4" : "ipv6");
    std::fprintf(out, "  \"source\": \"%s\",\n", source_address(cfg.family).ip_string().c_str());
    std::fprintf(out, "  \"destinations\": %d,\n", cfg.destinations);
    std::fprintf(out, "  \"fill\": \"%s\",\n",
                 cfg.fill == fill_order::round_robin ? "round-robin" : "sequential");
    std::fprintf(out, "  \"server_port\": %u,\n", kServerPort);
    std::fprintf(out, "  \"port_range\": {\"lo\": %u, \"hi\": %u, \"size\": %u},\n", cfg.port_lo,
                 cfg.port_hi, cfg.range_size());
    std::fprintf(out, "  \"capacity\": %llu,\n", static_cast<unsigned long long>(cfg.capacity()));
    std::fprintf(out, "  \"timeout_s\": %d,\n", cfg.timeout_s);
    std::fprintf(out, "  \"results\": [");
    for (size_t i = 0; i < results.size(); ++i) {
        const scenario_result& r = results[i];
        const technique_info& t = info(r.technique);
        char buf[16];
        std::fprintf(out, "%s\n    {\"technique\": \"%s\", \"protocol\": \"%s\", ", i ? "," : "",
                     t.name, t.protocol == proto::tcp ? "tcp" : "udp");
        std::fprintf(out, "\"description\": ");
        json_string(out, t.description);
        std::fprintf(out, ",\n     \"status\": \"%s\", \"established\": %llu, \"limit\": %llu, ",
                     to_string(r.stop), static_cast<unsigned long long>(r.established),
                     static_cast<unsigned long long>(r.limit));
        if (r.error)
            std::fprintf(out, "\"errno\": %d, \"errno_name\": \"%s\",\n", r.error,
                         errno_name(r.error, buf));
        else
            std::fprintf(out, "\"errno\": 0, \"errno_name\": null,\n");
        if (r.shared_local_pairs < 0)
            std::fprintf(out, "     \"shared_local_pairs\": null, \"local_pairs\": null, "
                              "\"duplicate_tuples\": null, \"diag_established\": null, ");
        else
            std::fprintf(out,
                         "     \"shared_local_pairs\": %s, \"local_pairs\": %lld, "
                         "\"duplicate_tuples\": %lld, \"diag_established\": %lld, ",
                         r.shared_local_pairs ? "true" : "false",
                         static_cast<long long>(r.local_pairs),
                         static_cast<long long>(r.duplicate_tuples),
                         static_cast<long long>(r.diag_established));
        std::fprintf(out, "\"diag_errno\": %d,\n", r.diag_error);
        std::fprintf(out,
                     "     \"holders\": %u, \"open_seconds\": %.6f, \"wall_seconds\": %.6f, "
                     "\"connects_per_second\": %.1f,\n",
                     r.holders, r.open_seconds, r.wall_seconds, per_second(r));
        std::fprintf(out,
                     "     \"slab_delta_bytes\": %lld, \"kernel_bytes_per_connection\": %.1f, "
                     "\"message\": ",
                     static_cast<long long>(r.slab_delta_bytes), bytes_per_connection(r));
        json_string(out, r.message);
        std::fprintf(out, "}");
    }
    std::fprintf(out, "\n  ]\n}\n");
}

void draw_progress(std::FILE* out, const char* label, uint64_t done, uint64_t total) {
    if (total == 0) return;
    done = std::min(done, total);
    int filled = int(double(done) / double(total) * kBarWidth);
    std::string bar(size_t(filled), '#');
    bar.resize(kBarWidth, '.');
    std::fprintf(out, "\r\033[K%-20s [%s] %3d%%  %s / %s", label, bar.c_str(),
                 int(double(done) * 100 / double(total)), grouped(done).c_str(),
                 grouped(total).c_str());
    std::fflush(out);
}

void clear_progress(std::FILE* out) {
    std::fprintf(out, "\r\033[K");
    std::fflush(out);
}

}  // namespace cxstress
