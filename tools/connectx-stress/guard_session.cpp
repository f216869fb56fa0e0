// guard_session.cpp - cgroup v2 bookkeeping for the guarded row and the calls into the guard API
// (include/connectx/guard.h). Without that header the row is reported as not built.
#include "guard_session.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "tools/common/cgroup.hpp"

#if __has_include(<connectx/guard.h>)
#include <connectx/guard.h>
#define CXSTRESS_HAVE_GUARD_API 1
#endif

namespace cxstress {
namespace {

std::string leftover_name(pid_t pid) {
    return "connectx-stress." + std::to_string(pid);
}

}  // namespace

#ifdef CXSTRESS_HAVE_GUARD_API

int guard_session::start(std::string& what) {
    if (!connectx_guard_available()) {
        what = "the library was built without the BPF guard (CONNECTX_BUILD_BPF)";
        return ENOSYS;
    }
    std::string mount = cxcommon::cgroup2_mount();
    std::string own = cxcommon::own_cgroup_dir(mount);
    if (own.empty()) {
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
    original_ = own;
    if (int e = cxcommon::join_cgroup(cgroup_)) {
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
    cxcommon::join_cgroup(original_);
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
    std::string mount = cxcommon::cgroup2_mount();
    if (mount.empty()) return;
    // Only our own name; rmdir fails, harmlessly, unless it exists. Killed processes leave the
    // cgroup a moment after they die (EBUSY until then).
    std::string dir = mount + "/" + leftover_name(pid);
    for (int tries = 0; ::rmdir(dir.c_str()) < 0 && errno == EBUSY && tries < 100; ++tries)
        ::usleep(10 * 1000);
}

}  // namespace cxstress
