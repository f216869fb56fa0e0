// stress.hpp - what every part of connectx-stress shares: the techniques it compares, the run
// configuration, and the plain-data result a scenario hands back across fork() through shared
// memory.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "timing.hpp"

namespace cxstress {

enum class proto : uint8_t { tcp, udp };

enum class technique_id : uint8_t {
    tcp_connect,
    tcp_bind,
    tcp_no_port,
    tcp_reuseaddr,
    tcp_connectx,
    udp_connect,
    udp_reuseaddr,
    udp_connectx,
    udp_connectx_guard,
    udp_dropin,
};
inline constexpr int kTechniqueCount = 10;

struct technique_info {
    technique_id id;
    proto protocol;
    const char* name;         // command-line and JSON name, e.g. "tcp-bind"
    const char* description;  // what the technique does, for the table
};

std::span<const technique_info> all_techniques() noexcept;
const technique_info& info(technique_id id) noexcept;
// Lookup by command-line name; nullptr when unknown.
const technique_info* find_technique(std::string_view name) noexcept;

// The destination port every server listens on. Below 1024, so never inside a local port range
// (ranges start at 1024 or above: options.cpp enforces it).
inline constexpr uint16_t kServerPort = 80;

// The order in which connections go to the destinations.
enum class fill_order : uint8_t {
    round_robin,  // connection k to destination k mod D: all fill at the same pace
    sequential,   // one destination after the other, each up to its share
};

struct config {
    int family = AF_INET;
    uint16_t port_lo = 32768;  // ip_local_port_range of every scenario's namespace, inclusive
    uint16_t port_hi = 32831;
    int destinations = 4;
    int sources = 1;  // --sources N: the connectx rows use a pool of N source addresses
    fill_order fill = fill_order::round_robin;
    std::vector<technique_id> techniques;
    uint64_t count_tcp = 0;  // stop after this many connections; 0 = until the first failure
    uint64_t count_udp = 0;
    int timeout_s = 60;  // per technique, for opening connections
    bool json = false;
    bool csv = false;            // CSV on stdout instead of the table
    const char* plot = nullptr;  // --plot FILE.svg, or nullptr
    bool progress = true;        // draw a progress line when stdout is a terminal
    bool scale = false;          // scale mode: the table also shows rate, memory and time

    uint32_t range_size() const noexcept { return uint32_t(port_hi) - port_lo + 1; }
    // Most distinct 4-tuples the source IPs can hold toward the destinations.
    uint64_t capacity() const noexcept {
        return uint64_t(range_size()) * uint64_t(destinations) * uint64_t(sources);
    }
    // 4-tuples toward one destination: the range from each source.
    uint64_t per_destination() const noexcept { return uint64_t(range_size()) * uint64_t(sources); }
    // Connections one technique attempts at most. Until the first failure, one attempt past the
    // capacity: a correct technique must fail there, an unsafe one shows it does not.
    uint64_t limit(proto p) const noexcept {
        uint64_t n = p == proto::tcp ? count_tcp : count_udp;
        return n ? n : capacity() + 1;
    }
    // Connections per destination in sequential order: an equal share of the limit, at most the
    // range, so that only attempts past the capacity go beyond a destination's range (the
    // last one's).
    uint64_t share(proto p) const noexcept {
        uint64_t d = uint64_t(destinations);
        uint64_t even = (limit(p) + d - 1) / d;
        return even < per_destination() ? even : per_destination();
    }
};

// Why a scenario stopped opening connections.
enum class stop_reason : uint8_t {
    failure,       // a connection failed: `error` is its errno (the technique's ceiling)
    limit,         // the configured count (or capacity + 1) was reached without failure
    timeout,       // the per-technique time ran out
    setup_failed,  // the namespace, servers or guard could not be set up: `error`, `message`
    not_built,     // the technique is not available in this build (the BPF guard)
    crashed,       // a process of the scenario died or vanished
};
const char* to_string(stop_reason r) noexcept;

// A scenario's outcome. Plain data: it is written by the scenario's process into a shared
// mapping and read by the parent after the scenario's namespace is gone.
struct scenario_result {
    technique_id technique{};
    stop_reason stop = stop_reason::crashed;
    int error = 0;                  // errno of the failure that stopped the run, 0 if none
    uint64_t established = 0;       // connections the technique opened
    uint64_t limit = 0;             // attempts allowed (config::limit)
    int64_t diag_established = -1;  // client sockets the SOCK_DIAG dump saw; -1 = no dump
    int64_t duplicate_tuples = -1;  // sockets sharing an ESTABLISHED 4-tuple; -1 = no dump
    int64_t local_pairs = -1;       // distinct local (IP, port) among clients; -1 = no dump
    int shared_local_pairs = -1;    // 1 when a local pair served two destinations; -1 = no dump
    int diag_error = 0;             // errno of a failed dump
    uint32_t holders = 0;           // processes that held the sockets
    double open_seconds = 0;        // time spent opening connections
    double wall_seconds = 0;        // the whole scenario: set up, open, check, tear down
    int64_t slab_delta_bytes = 0;   // /proc/meminfo Slab after opening minus before
    char message[192] = {};         // what failed, for setup_failed / crashed
    timing times;                   // connect costs by occupancy, connections against time
};

// Where a scenario is, for the progress line.
enum class scenario_phase : uint8_t { setting_up, opening, checking, closing };

// The mapping shared by the parent and every scenario process (MAP_SHARED | MAP_ANONYMOUS).
struct shared_state {
    std::atomic<uint64_t> progress[kTechniqueCount];  // connections opened so far, per slot
    std::atomic<scenario_phase> phase[kTechniqueCount];
    scenario_result results[kTechniqueCount];
};

}  // namespace cxstress
