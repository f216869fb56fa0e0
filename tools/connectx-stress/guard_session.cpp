// guard_session.cpp - cgroup v2 bookkeeping for the guarded row and the calls into the guard API
// (include/connectx/guard.h). Without that header the row is reported as not built.
#include "guard_session.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#if __has_include(<connectx/guard.h>)
#include <connectx/guard.h>
#define CXSTRESS_HAVE_GUARD_API 1
#endif

namespace cxstress {
namespace {

// Mount point of the cgroup v2 hierarchy, from /proc/self/mountinfo ("" if there is none). On a
// hybrid layout it is not /sys/fs/cgroup but e.g. /sys/fs/cgroup/unified.
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

std::string leftover_name(pid_t pid) { return "connectx-stress." + std::to_string(pid); }

}  // namespace

#ifdef CXSTRESS_HAVE_GUARD_API

namespace {

// This process's cgroup v2 path relative to the hierarchy's root ("0::/path").
std::string own_cgroup() {
    std::ifstream in("/proc/self/cgroup");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("0::", 0) == 0) return line.substr(3);
    return {};
}

int write_pid(const std::string& procs_file) {
    int fd = ::open(procs_file.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    std::string pid = std::to_string(::getpid());
    int e = ::write(fd, pid.data(), pid.size()) < 0 ? errno : 0;
    ::close(fd);
    return e;
}

}  // namespace

int guard_session::start(std::string& what) {
    if (!connectx_guard_available()) {
        what = "the library was built without the BPF guard (CONNECTX_BUILD_BPF)";
        return ENOSYS;
    }
    std::string mount = cgroup2_mount();
    std::string own = own_cgroup();
    if (mount.empty() || own.empty()) {
        what = "no cgroup v2 hierarchy";
        return ENOENT;
    }
    // A child of the hierarchy's root: the root is exempt from the rule that a cgroup with
    // controllers enabled for its children may hold no process.
    std::string dir = mount + "/" + leftover_name(::getpid());
    if (::mkdir(dir.c_str(), 0755) < 0) {
        int e = errno;
        what = "create cgroup " + dir;
        return e;
    }
    cgroup_ = dir;
    original_ = mount + (own == "/" ? "" : own) + "/cgroup.procs";
    if (int e = write_pid(cgroup_ + "/cgroup.procs")) {
        what = "move into cgroup " + cgroup_;
        return e;
    }
    connectx_guard_opts opts{};
    opts.size = sizeof opts;
    if (connectx_guard_attach(cgroup_.c_str(), &opts, &guard_) < 0) {
        int e = errno;
        what = "attach the guard to " + cgroup_;
        return e;
    }
    return 0;
}

guard_session::~guard_session() {
    connectx_guard_close(guard_);
    if (cgroup_.empty()) return;
    write_pid(original_);
    ::rmdir(cgroup_.c_str());
}

#else  // no guard API in this source tree

int guard_session::start(std::string& what) {
    what = "connectx was built without the guard API (include/connectx/guard.h)";
    return ENOSYS;
}

guard_session::~guard_session() = default;

#endif

void remove_leftover_guard_cgroup(pid_t pid) {
    std::string mount = cgroup2_mount();
    if (mount.empty()) return;
    // Only our own name; rmdir fails, harmlessly, unless it exists. Killed processes leave the
    // cgroup a moment after they die (EBUSY until then).
    std::string dir = mount + "/" + leftover_name(pid);
    for (int tries = 0; ::rmdir(dir.c_str()) < 0 && errno == EBUSY && tries < 100; ++tries)
        ::usleep(10 * 1000);
}

}  // namespace cxstress
