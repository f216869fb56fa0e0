// render.hpp - one census in the three formats of connectx-ports: an ss-like table, JSON, and the
// Prometheus text exposition format (node_exporter's textfile collector reads it).
#pragma once

#include <connectx/connectx.hpp>
#include <string>
#include <vector>

namespace cxports {

struct protocol_census {
    const char* name;  // "udp", "tcp"
    cx::port_census_report report;
};

std::string render_text(const std::vector<protocol_census>& c, long top);
std::string render_json(const std::vector<protocol_census>& c, long top);
std::string render_prometheus(const std::vector<protocol_census>& c, long top);

// A Prometheus label value with \, " and newline escaped.
std::string prometheus_escape(const std::string& v);

}  // namespace cxports
