// machine_output.cpp - the JSON document (schema connectx-stress/1) and the CSV rows.
#include <connectx/connectx.h>

#include <nlohmann/json.hpp>
#include <string>

#include "format.hpp"
#include "netns.hpp"
#include "report.hpp"

namespace cxstress {
namespace {

using json = nlohmann::ordered_json;

// A JSON number, or null for "none" (-1).
json cost_or_null(double us) {
    return us < 0 ? json(nullptr) : json(us);
}

json result_json(const scenario_result& r) {
    const technique_info& t = info(r.technique);
    char buf[16];
    bool dump = r.shared_local_pairs >= 0;
    json costs = json::object();
    for (const auto& b : occupancy_bands())
        costs[b.key] = cost_or_null(mean_cost_us(r.times, b.lo_bin, b.hi_bin));
    return json{
        {"technique", t.name},
        {"protocol", t.protocol == proto::tcp ? "tcp" : "udp"},
        {"description", t.description},
        {"status", to_string(r.stop)},
        {"established", r.established},
        {"limit", r.limit},
        {"errno", r.error},
        {"errno_name", r.error ? json(errno_name(r.error, buf)) : json(nullptr)},
        {"shared_local_pairs", dump ? json(r.shared_local_pairs != 0) : json(nullptr)},
        {"local_pairs", dump ? json(r.local_pairs) : json(nullptr)},
        {"duplicate_tuples", dump ? json(r.duplicate_tuples) : json(nullptr)},
        {"diag_established", dump ? json(r.diag_established) : json(nullptr)},
        {"diag_errno", r.diag_error},
        {"holders", r.holders},
        {"open_seconds", r.open_seconds},
        {"wall_seconds", r.wall_seconds},
        {"connects_per_second", per_second(r)},
        {"slab_delta_bytes", r.slab_delta_bytes},
        {"kernel_bytes_per_connection", bytes_per_connection(r)},
        {"cost_us_by_occupancy", costs},
        {"message", r.message},
    };
}

// RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled.
std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
}

std::string csv_cost(double us) {
    return us < 0 ? "" : fixed(us, 3);
}

}  // namespace

void print_json(std::FILE* out, const config& cfg, const std::vector<scenario_result>& results) {
    json rows = json::array();
    for (const auto& r : results) rows.push_back(result_json(r));
    json doc = {
        {"schema", "connectx-stress/1"},
        {"version", std::to_string(CONNECTX_VERSION_MAJOR) + "." +
                        std::to_string(CONNECTX_VERSION_MINOR) + "." +
                        std::to_string(CONNECTX_VERSION_PATCH)},
        {"kernel", kernel_release()},
        {"mode", cfg.scale ? "scale" : "compare"},
        {"family", cfg.family == AF_INET ? "ipv4" : "ipv6"},
        {"source", source_address(cfg.family).ip_string()},
        {"destinations", cfg.destinations},
        {"sources", cfg.sources},
        {"fill", fill_name(cfg.fill)},
        {"server_port", kServerPort},
        {"port_range", {{"lo", cfg.port_lo}, {"hi", cfg.port_hi}, {"size", cfg.range_size()}}},
        {"capacity", cfg.capacity()},
        {"timeout_s", cfg.timeout_s},
        {"results", rows},
    };
    std::string s = doc.dump(2, ' ', false, json::error_handler_t::replace);
    std::fprintf(out, "%s\n", s.c_str());
}

void print_csv(std::FILE* out, const config& cfg, const std::vector<scenario_result>& results) {
    std::string head =
        "technique,protocol,description,status,errno_name,established,limit,capacity,"
        "shared_local_pairs,duplicate_tuples,open_seconds,connects_per_second";
    for (const auto& b : occupancy_bands()) head += std::string(",cost_us_") + b.key;
    for (char& c : head)
        if (c == '-') c = '_';
    std::fprintf(out, "%s\n", head.c_str());
    for (const auto& r : results) {
        const technique_info& t = info(r.technique);
        char buf[16];
        bool dump = r.shared_local_pairs >= 0;
        std::string row = std::string(t.name) + "," + (t.protocol == proto::tcp ? "tcp" : "udp") +
                          "," + csv_field(t.description) + "," + to_string(r.stop) + "," +
                          (r.error ? errno_name(r.error, buf) : "") + "," +
                          std::to_string(r.established) + "," + std::to_string(r.limit) + "," +
                          std::to_string(cfg.capacity()) + "," +
                          (dump ? (r.shared_local_pairs ? "true" : "false") : "") + "," +
                          (dump ? std::to_string(r.duplicate_tuples) : "") + "," +
                          fixed(r.open_seconds, 6) + "," + fixed(per_second(r), 1);
        for (const auto& b : occupancy_bands())
            row += "," + csv_cost(mean_cost_us(r.times, b.lo_bin, b.hi_bin));
        std::fprintf(out, "%s\n", row.c_str());
    }
}

}  // namespace cxstress
