// report.cpp - the header, the tables, the legend and the notes for people.
#include "report.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "format.hpp"
#include "netns.hpp"

namespace cxstress {
namespace {

// Notes wrap here: readable on an 80-column terminal with room to spare.
constexpr size_t kNoteWidth = 96;

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

void print_main_table(std::FILE* out, const config& cfg,
                      const std::vector<scenario_result>& results) {
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
        bool c = has_counts(r);
        cols[0].cells.push_back(t.protocol == proto::tcp ? "tcp" : "udp");
        cols[1].cells.push_back(t.description);
        cols[2].cells.push_back(c ? grouped(r.established) : "-");
        cols[3].cells.push_back(outcome_cell(r));
        cols[4].cells.push_back(shared_cell(r));
        cols[5].cells.push_back(duplicates_cell(r));
        if (cfg.scale) {
            cols[6].cells.push_back(c ? grouped(uint64_t(per_second(r))) : "-");
            cols[7].cells.push_back(c ? fixed(bytes_per_connection(r), 0) : "-");
            cols[8].cells.push_back(c ? fixed(r.open_seconds, 1) : "-");
            cols[9].cells.push_back(fixed(r.wall_seconds, 1));
            cols[10].cells.push_back(std::to_string(r.holders));
        }
    }
    print_columns(out, cols);
}

void print_band_table(std::FILE* out, const config& cfg,
                      const std::vector<scenario_result>& results) {
    std::fprintf(out, "\ncost per connect (mean, microseconds) by occupancy of the %s 4-tuples:\n",
                 grouped(cfg.capacity()).c_str());
    std::vector<column> cols = {{"technique", false, {}}};
    for (const auto& b : occupancy_bands()) cols.push_back({b.label, true, {}});
    for (const auto& r : results) {
        cols[0].cells.push_back(info(r.technique).name);
        size_t i = 1;
        for (const auto& b : occupancy_bands())
            cols[i++].cells.push_back(cost_cell(mean_cost_us(r.times, b.lo_bin, b.hi_bin)));
    }
    print_columns(out, cols);
}

void print_legend(std::FILE* out, const config& cfg) {
    std::string cap = grouped(cfg.capacity());
    std::fprintf(
        out,
        "\nlegend:\n"
        "  established          connections open at once when the technique stopped; at most\n"
        "                       the %s distinct 4-tuples, and one attempt more is made\n"
        "  errno at exhaustion  the error of the first connect that failed; \"none (limit)\":\n"
        "                       every attempt succeeded; \"none (timeout)\": --timeout ran out\n"
        "  src 2-tuple shared   yes: one local (IP, port) carried connections to several\n"
        "                       destinations (what lifts the ceiling above the port range)\n"
        "  duplicate 4-tuples   sockets holding a 4-tuple another socket holds too (SOCK_DIAG\n"
        "                       dump while all are open): only the newest receives traffic\n"
        "  cost per connect     one successful connect as the technique makes it (socket,\n"
        "                       options, bind, connect), by how full the %s 4-tuples were;\n"
        "                       \"-\": no connect in that band\n",
        cap.c_str(), cap.c_str());
}

// The note for a row, or "" when its cells say everything.
std::string note_for(const config& cfg, const scenario_result& r) {
    if (r.message[0]) return r.message;
    std::string note;
    auto add = [&note](const std::string& s) { note += (note.empty() ? "" : "; ") + s; };
    if (has_counts(r) && r.duplicate_tuples < 0 && r.diag_error)
        add(std::string("SOCK_DIAG dump failed: ") + std::strerror(r.diag_error));
    uint64_t attempts_past = cfg.capacity() + 1;
    if (r.stop == stop_reason::timeout)
        add("none (timeout): still succeeding when --timeout (" + std::to_string(cfg.timeout_s) +
            " s) ran out, after " + grouped(r.established) + " of " + grouped(r.limit) +
            " attempts at " + grouped(uint64_t(per_second(r))) +
            "/s; its ceiling was not reached (raise --timeout, or fewer ports or destinations)");
    if (r.stop == stop_reason::limit && r.limit == attempts_past)
        add("none (limit): all " + grouped(r.limit) + " attempts succeeded, one more than the " +
            grouped(cfg.capacity()) +
            " distinct 4-tuples: a technique that keeps 4-tuples unique fails the last one; "
            "this one gave a socket a 4-tuple another already held");
    else if (r.stop == stop_reason::limit)
        add("none (limit): stopped after --count " + grouped(r.limit) + " connections, as asked");
    if (r.stop == stop_reason::failure && r.established == cfg.range_size() &&
        cfg.capacity() > cfg.range_size())
        add("stopped at the port range (" + grouped(cfg.range_size()) +
            "): each connection took a local port for itself, whatever its destination");
    if (r.duplicate_tuples > 0)
        add(grouped(uint64_t(r.duplicate_tuples)) +
            " sockets share their 4-tuple with another: the older ones starve without an error. "
            "The count differs from run to run: the kernel's UDP autobind starts its port search "
            "at a random port, so which ports collide is chance");
    return note;
}

// Prints `text` after `lead`, wrapped at kNoteWidth columns, continuation lines indented by 4.
void print_wrapped(std::FILE* out, const std::string& lead, const std::string& text) {
    std::string line = lead;
    size_t at = 0;
    while (at < text.size()) {
        size_t end = text.find(' ', at);
        if (end == std::string::npos) end = text.size();
        std::string word = text.substr(at, end - at);
        if (line.size() + 1 + word.size() > kNoteWidth &&
            line.find_first_not_of(' ') != std::string::npos) {
            std::fprintf(out, "%s\n", line.c_str());
            line = "    ";
        } else if (!line.empty() && line.back() != ' ') {
            line += ' ';
        }
        line += word;
        at = end + 1;
    }
    std::fprintf(out, "%s\n", line.c_str());
}

void print_notes(std::FILE* out, const config& cfg, const std::vector<scenario_result>& results) {
    bool first = true;
    for (const auto& r : results) {
        std::string note = note_for(cfg, r);
        if (note.empty()) continue;
        if (first) std::fprintf(out, "\nnotes:\n");
        print_wrapped(out, std::string("  ") + info(r.technique).name + ": ", note);
        first = false;
    }
}

}  // namespace

void print_header(std::FILE* out, const config& cfg) {
    std::string sources = source_address(cfg.family).ip_string();
    if (cfg.sources > 1)
        sources = "pool " + sources + " to " +
                  pool_address(cfg.family, cfg.sources - 1).ip_string() + " (" +
                  std::to_string(cfg.sources) + " addresses; connectx rows)";
    std::fprintf(out,
                 "connectx-stress: source %s, %u local ports (%u-%u) x %d destinations%s = %s "
                 "distinct 4-tuples; %s fill; kernel %s\n\n",
                 sources.c_str(), cfg.range_size(), cfg.port_lo, cfg.port_hi, cfg.destinations,
                 cfg.sources > 1 ? (" x " + std::to_string(cfg.sources) + " sources").c_str() : "",
                 grouped(cfg.capacity()).c_str(), fill_name(cfg.fill), kernel_release().c_str());
    std::fflush(out);
}

void print_table(std::FILE* out, const config& cfg, const std::vector<scenario_result>& results) {
    print_main_table(out, cfg, results);
    print_band_table(out, cfg, results);
    print_legend(out, cfg);
    print_notes(out, cfg, results);
}

}  // namespace cxstress
