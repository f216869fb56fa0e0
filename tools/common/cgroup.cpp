// cgroup.cpp - cgroup v2 paths read from /proc/self, and the write to cgroup.procs.
#include "tools/common/cgroup.hpp"

#include <unistd.h>

#include <fstream>
#include <sstream>

#include "tools/common/kernel_file.hpp"

namespace cxcommon {

std::string cgroup2_mount() {
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
        // "id parent maj:min root mountpoint options [optional...] - fstype source superopts"
        size_t dash = line.find(" - ");
        if (dash == std::string::npos) continue;
        std::istringstream tail(line.substr(dash + 3));
        std::string fstype;
        tail >> fstype;
        if (fstype != "cgroup2") continue;
        std::istringstream head(line.substr(0, dash));
        std::string id, parent, dev, root, mountpoint;
        head >> id >> parent >> dev >> root >> mountpoint;
        return mountpoint;
    }
    return {};
}

std::string own_cgroup_dir(const std::string& mount) {
    if (mount.empty()) return {};
    std::ifstream in("/proc/self/cgroup");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("0::", 0) == 0) {
            std::string path = line.substr(3);  // "/" for the root, else "/a/b"
            if (path.empty()) return {};
            return path == "/" ? mount : mount + path;
        }
    return {};
}

int join_cgroup(const std::string& dir) {
    return write_file((dir + "/cgroup.procs").c_str(), std::to_string(::getpid()));
}

}  // namespace cxcommon
