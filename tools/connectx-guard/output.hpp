// output.hpp - what connectx-guard prints: a line for people, or one JSON object on stdout (as
// bpftool: -j compact, -p indented, errors as {"error": "..."} on stdout too).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "options.hpp"

namespace cxguard {

using json = nlohmann::ordered_json;

class output {
public:
    explicit output(const args& a) noexcept : json_(a.json), pretty_(a.pretty) {}

    bool json_mode() const noexcept { return json_; }

    // The result: `doc` in JSON mode, else `text` (one or more lines) on stdout. Flushed at once:
    // a supervisor may be waiting for it while attach holds the guard.
    void result(const json& doc, const std::string& text) const;

    // An error: {"error": message} on stdout in JSON mode, else "connectx-guard: message" on
    // stderr.
    void error(const std::string& message) const;

private:
    bool json_;
    bool pretty_;
};

}  // namespace cxguard
