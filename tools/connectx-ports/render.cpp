// render.cpp - connectx-ports' three outputs. Every format shows the same numbers:
// connectx_budget(3)'s usable, used and free per pair.
#include "render.hpp"

#include <cstdio>
#include <nlohmann/json.hpp>

namespace cxports {
namespace {

size_t shown(const cx::port_census_report& r, long top) {
    return top > 0 ? std::min(r.pairs.size(), size_t(top)) : r.pairs.size();
}

std::string percent(uint32_t used, uint32_t usable) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.1f", usable ? 100.0 * used / usable : 0.0);
    return buf;
}

}  // namespace

std::string render_text(const std::vector<protocol_census>& c, long top) {
    std::string out;
    char line[256];
    for (const auto& p : c) {
        std::snprintf(line, sizeof line, "%s: ip_local_port_range %u-%u, %u usable, %zu pairs\n",
                      p.name, p.report.range.lo, p.report.range.hi, p.report.usable,
                      p.report.pairs.size());
        out += line;
    }
    std::snprintf(line, sizeof line, "%-5s %-40s %-47s %6s %6s %6s\n", "Proto", "Source",
                  "Destination", "Used", "Free", "Use%");
    out += line;
    for (const auto& p : c) {
        for (size_t i = 0; i < shown(p.report, top); ++i) {
            const auto& o = p.report.pairs[i];
            std::snprintf(line, sizeof line, "%-5s %-40s %-47s %6u %6u %6s\n", p.name,
                          o.source.ip_string().c_str(), o.destination.to_string().c_str(), o.used,
                          o.free, percent(o.used, o.usable).c_str());
            out += line;
        }
    }
    return out;
}

std::string render_json(const std::vector<protocol_census>& c, long top) {
    nlohmann::json doc = nlohmann::json::object();
    for (const auto& p : c) {
        nlohmann::json pairs = nlohmann::json::array();
        for (size_t i = 0; i < shown(p.report, top); ++i) {
            const auto& o = p.report.pairs[i];
            pairs.push_back({{"source", o.source.ip_string()},
                             {"destination", o.destination.ip_string()},
                             {"destination_port", o.destination.port()},
                             {"used", o.used},
                             {"free", o.free},
                             {"usable", o.usable}});
        }
        doc[p.name] = {{"range", {{"lo", p.report.range.lo}, {"hi", p.report.range.hi}}},
                       {"usable", p.report.usable},
                       {"pairs_total", p.report.pairs.size()},
                       {"pairs", pairs}};
    }
    return doc.dump() + "\n";
}

std::string prometheus_escape(const std::string& v) {
    std::string out;
    for (char ch : v) {
        if (ch == '\\' || ch == '"') out += '\\';
        if (ch == '\n') {
            out += "\\n";
            continue;
        }
        out += ch;
    }
    return out;
}

std::string render_prometheus(const std::vector<protocol_census>& c, long top) {
    std::string out;
    auto family = [&](const char* name, const char* help) {
        out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n";
    };
    auto pair_labels = [](const char* proto, const cx::port_occupancy& o) {
        return std::string("{protocol=\"") + proto + "\",source=\"" +
               prometheus_escape(o.source.ip_string()) + "\",destination=\"" +
               prometheus_escape(o.destination.ip_string()) + "\",destination_port=\"" +
               std::to_string(o.destination.port()) + "\"}";
    };
    family("connectx_ports_usable",
           "Local ports of ip_local_port_range not in ip_local_reserved_ports.");
    for (const auto& p : c)
        out += std::string("connectx_ports_usable{protocol=\"") + p.name + "\"} " +
               std::to_string(p.report.usable) + "\n";
    family("connectx_ports_pairs",
           "(source IP, destination) pairs whose connected sockets hold usable ports.");
    for (const auto& p : c)
        out += std::string("connectx_ports_pairs{protocol=\"") + p.name + "\"} " +
               std::to_string(p.report.pairs.size()) + "\n";
    // The two per-pair gauges: one line per pair shown, value from `field`.
    auto per_pair = [&](const char* name, const char* help, uint32_t cx::port_occupancy::*field) {
        family(name, help);
        for (const auto& p : c)
            for (size_t i = 0; i < shown(p.report, top); ++i)
                out += name + pair_labels(p.name, p.report.pairs[i]) + " " +
                       std::to_string(p.report.pairs[i].*field) + "\n";
    };
    per_pair("connectx_ports_used",
             "Usable local ports held toward the destination from the source IP.",
             &cx::port_occupancy::used);
    per_pair("connectx_ports_free",
             "Usable local ports still free toward the destination from the source IP.",
             &cx::port_occupancy::free);
    return out;
}

}  // namespace cxports
