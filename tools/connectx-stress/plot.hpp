// plot.hpp - --plot FILE.svg: two charts, one line per technique. Left: connections established
// against time since the technique started opening. Right: the mean cost of one connect against
// the occupancy of the ports x destinations 4-tuples (log scale: costs span decades). Plain SVG
// 1.1, written here: no plotting dependency, and it shows in any browser or README.
#pragma once

#include <string>
#include <vector>

#include "stress.hpp"

namespace cxstress {

// Writes the picture to `path`. Returns 0, or an errno with `error` saying what failed.
int write_plot(const char* path, const config& cfg, const std::vector<scenario_result>& results,
               std::string& error);

}  // namespace cxstress
