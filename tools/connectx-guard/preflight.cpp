// preflight.cpp - cgroup and pin directory checks with messages that name what failed.
#include "preflight.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cxguard {
namespace {

// Closes the descriptor on every path.
class fd_guard {
public:
    explicit fd_guard(int fd) noexcept : fd_(fd) {}
    fd_guard(const fd_guard&) = delete;
    fd_guard& operator=(const fd_guard&) = delete;
    ~fd_guard() {
        if (fd_ >= 0) ::close(fd_);
    }
    int get() const noexcept { return fd_; }

private:
    int fd_;
};

// Filesystem names for the messages: the ones a wrong path is likely to be on.
const char* fs_name(unsigned long type) {
    switch (type) {
        case CGROUP2_SUPER_MAGIC:
            return "cgroup2";
        case CGROUP_SUPER_MAGIC:
            return "cgroup v1";
        case BPF_FS_MAGIC:
            return "bpffs";
        case SYSFS_MAGIC:
            return "sysfs";
        case TMPFS_MAGIC:
            return "tmpfs";
        case PROC_SUPER_MAGIC:
            return "proc";
        case EXT4_SUPER_MAGIC:
            return "ext4";
        case OVERLAYFS_SUPER_MAGIC:
            return "overlayfs";
        default:
            return nullptr;
    }
}

std::string fs_of(const char* path) {
    struct statfs fs {};
    if (::statfs(path, &fs) < 0) return std::strerror(errno);
    auto type = static_cast<unsigned long>(fs.f_type);
    if (const char* n = fs_name(type)) return n;
    char buf[32];
    std::snprintf(buf, sizeof buf, "filesystem 0x%lx", type);
    return buf;
}

bool on_bpffs(const char* path) {
    struct statfs fs {};
    return ::statfs(path, &fs) == 0 && static_cast<unsigned long>(fs.f_type) == BPF_FS_MAGIC;
}

std::string parent_of(const std::string& path) {
    std::string p = path;
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    size_t slash = p.rfind('/');
    if (slash == std::string::npos) return ".";
    return slash == 0 ? "/" : p.substr(0, slash);
}

std::string about(const char* what, const char* path, const std::string& problem) {
    return std::string(what) + " " + path + ": " + problem;
}

// DIR is missing: create it. On sysfs (an empty /sys/fs/bpf where no bpffs is mounted) mkdir
// fails with a misleading ENOENT: say what the parent is instead.
std::string create_pin_dir(const char* dir) {
    if (::mkdir(dir, 0700) == 0) return "";
    int e = errno;
    std::string parent = parent_of(dir);
    std::string problem = std::string("cannot create it: ") + std::strerror(e);
    if (!on_bpffs(parent.c_str()) && e != EEXIST) {
        std::string fs = fs_of(parent.c_str());
        problem += " (" + parent + " is " + fs + ", not bpffs";
        if (fs == "sysfs") problem += ": mount bpffs there first, mount -t bpf bpf " + parent;
        problem += ")";
    }
    return about("pin directory", dir, problem);
}

}  // namespace

std::string pin_name(uint64_t cgroup_id, const char* program) {
    return "connectx-guard-" + std::to_string(cgroup_id) + "-" + program;
}

std::string check_cgroup(const char* path, cgroup_facts& out) {
    fd_guard fd(::open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.get() < 0) return about("cgroup", path, std::strerror(errno));
    struct statfs fs {};
    if (::fstatfs(fd.get(), &fs) < 0) return about("cgroup", path, std::strerror(errno));
    auto type = static_cast<unsigned long>(fs.f_type);
    if (type != CGROUP2_SUPER_MAGIC) {
        const char* n = fs_name(type);
        return about(
            "cgroup", path,
            std::string("not a cgroup v2 directory (its filesystem is ") + (n ? n : "not cgroup2") +
                "; the cgroup2 mount is the line of type cgroup2 in /proc/self/mountinfo)");
    }
    struct stat self {
    }, parent{};
    if (::fstat(fd.get(), &self) < 0 || ::fstatat(fd.get(), "..", &parent, 0) < 0)
        return about("cgroup", path, std::strerror(errno));
    out.id = self.st_ino;
    // As src/guard.cpp: id 1, or a mount root, is the root as far as this mount can tell.
    out.root = out.id == 1 || parent.st_dev != self.st_dev || parent.st_ino == self.st_ino;
    return "";
}

std::string prepare_pin_dir(const char* dir, bool may_mount, bool& created) {
    created = false;
    struct stat st {};
    if (::stat(dir, &st) < 0) {
        if (errno != ENOENT) return about("pin directory", dir, std::strerror(errno));
        if (std::string m = create_pin_dir(dir); !m.empty()) return m;
        created = true;
        if (::stat(dir, &st) < 0) return about("pin directory", dir, std::strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) return about("pin directory", dir, "not a directory");
    if (!may_mount && !on_bpffs(dir))
        return about("pin directory", dir,
                     "on " + fs_of(dir) +
                         ", not bpffs (without --no-mount, bpffs is mounted "
                         "on it)");
    return "";
}

std::string check_pin_dir(const char* dir) {
    struct stat st {};
    if (::stat(dir, &st) < 0) return about("pin directory", dir, std::strerror(errno));
    if (!S_ISDIR(st.st_mode)) return about("pin directory", dir, "not a directory");
    if (!on_bpffs(dir)) return about("pin directory", dir, "on " + fs_of(dir) + ", not bpffs");
    return "";
}

}  // namespace cxguard
