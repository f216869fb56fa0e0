// guard.cpp - the BPF guard loader (include/connectx/guard.h): open -> load -> attach one cgroup
// BPF link per program -> optional pin -> destroy; detach and status by cgroup path from any
// process. Built without CONNECTX_BUILD_BPF, every entry point fails with ENOTSUP.
#include <connectx/guard.h>

#include <cerrno>

#ifndef CONNECTX_HAVE_BPF

extern "C" {
// The library was configured without clang/bpftool/libbpf: say so, distinctly and always.
int connectx_guard_attach(const char*, const connectx_guard_opts*, connectx_guard** guard) {
    if (guard) *guard = nullptr;
    errno = ENOTSUP;
    return -1;
}
int connectx_guard_detach(const char*, const connectx_guard_opts*) {
    errno = ENOTSUP;
    return -1;
}
int connectx_guard_status(const char*, const connectx_guard_opts*, connectx_guard_info*) {
    errno = ENOTSUP;
    return -1;
}
void connectx_guard_close(connectx_guard*) {}
int connectx_guard_available(void) {
    return 0;
}
}  // extern "C"

#else  // CONNECTX_HAVE_BPF

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>

#include "guard.skel.h"
#include "sys.hpp"

namespace cx::detail {
namespace {

// One entry per program of bpf/guard.bpf.c. The kernel keeps BPF_OBJ_NAME_LEN - 1 = 15
// characters of a program's name: both names fit, so they identify the guard on any cgroup.
struct guard_kind {
    bpf_attach_type type;
    const char* prog_name;
    uint32_t bit;
    const char* pin_suffix;
};
constexpr guard_kind kKinds[] = {
    {BPF_CGROUP_INET4_CONNECT, "connectx_guard4", CONNECTX_GUARD_CONNECT4, "connect4"},
    {BPF_CGROUP_INET6_CONNECT, "connectx_guard6", CONNECTX_GUARD_CONNECT6, "connect6"},
};
constexpr int kKindCount = 2;

constexpr char kStatsMap[] = "connectx_stats";
// Counter slots of the map, as bpf/guard.bpf.c numbers them.
enum : uint32_t { kStatChecked = 0, kStatRefused = 1, kStatSkipped = 2, kStatCount = 3 };
// Most programs one cgroup can hold per attach type (BPF_CGROUP_MAX_PROGS).
constexpr uint32_t kMaxCgroupProgs = 64;
// A guard program uses one map; leave room for a future one or two.
constexpr uint32_t kMaxProgMaps = 8;

// Whether an attach or detach changed the cgroup: the C API's 1 or 0. Not an errno.
enum class guard_change { none = 0, changed = 1 };

// The entry points below return 0 or a positive errno, and report the change apart; the C
// wrappers set errno only after every local (fds, links, skeleton) has been destroyed, so no
// cleanup can clobber it.
int c_result(int e, guard_change change = guard_change::none) noexcept {
    if (e == 0) return static_cast<int>(change);
    errno = e;
    return -1;
}

// libbpf returns -errno from int calls and NULL + errno from pointer calls (1.0 semantics).
[[nodiscard]] int bpf_err(int rc) noexcept {
    return rc < 0 ? -rc : 0;
}

template <class Info>
int info_of(int fd, Info& info) noexcept {
    uint32_t len = sizeof info;
    return bpf_err(bpf_obj_get_info_by_fd(fd, &info, &len));
}

int parse_opts(const connectx_guard_opts* opts, uint32_t& flags, const char*& pin_dir) noexcept {
    flags = 0;
    pin_dir = nullptr;
    if (!opts) return 0;
    if (opts->size != sizeof *opts) return EINVAL;
    if (opts->flags & ~CONNECTX_GUARD_F_ALL) return EINVAL;
    flags = opts->flags;
    if (opts->pin_dir) {
        if (!*opts->pin_dir) return EINVAL;
        pin_dir = opts->pin_dir;
    }
    return 0;
}

struct cgroup_dir {
    unique_fd fd;
    uint64_t id = 0;    // the cgroup id: kernfs reports it as the inode number (64-bit ino_t)
    bool root = false;  // the root of its hierarchy: every process of the host is below it
};

int open_cgroup(const char* path, cgroup_dir& cg) noexcept {
    if (!path || !*path) return EINVAL;
    cg.fd.reset(::open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!cg.fd) return errno;
    struct statfs fs {};
    if (::fstatfs(cg.fd.get(), &fs) < 0) return errno;
    if (static_cast<unsigned long>(fs.f_type) != CGROUP2_SUPER_MAGIC) return EMEDIUMTYPE;
    struct stat self {
    }, parent{};
    if (::fstat(cg.fd.get(), &self) < 0 || ::fstatat(cg.fd.get(), "..", &parent, 0) < 0)
        return errno;
    cg.id = self.st_ino;
    // Id 1 is the root cgroup; a mount root (.. on another filesystem) is the root as far as
    // this mount (or cgroup namespace) can tell.
    cg.root = cg.id == 1 || parent.st_dev != self.st_dev || parent.st_ino == self.st_ino;
    return 0;
}

// Serialises attach and detach of cooperating processes on one cgroup, so two concurrent
// attaches cannot both find the guard absent and attach it twice. Released with the fd.
int lock_cgroup(const cgroup_dir& cg) noexcept {
    while (::flock(cg.fd.get(), LOCK_EX) < 0)
        if (errno != EINTR) return errno;
    return 0;
}

struct pin_dir {
    const char* path = nullptr;
    unique_fd fd;
    explicit operator bool() const noexcept { return path != nullptr; }
};

bool on_bpffs(int fd) noexcept {
    struct statfs fs {};
    return ::fstatfs(fd, &fs) == 0 && static_cast<unsigned long>(fs.f_type) == BPF_FS_MAGIC;
}

// Opens the pin directory; with `mount_it`, mounts a bpffs instance on it first if it is not one
// (as bpftool does before pinning: a pin on any other filesystem is refused by the kernel).
int open_pin_dir(const char* path, bool mount_it, pin_dir& pd) noexcept {
    if (!path) return 0;
    pd.path = path;
    pd.fd.reset(::open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!pd.fd) return errno;
    if (on_bpffs(pd.fd.get())) return 0;
    if (!mount_it) return EMEDIUMTYPE;
    if (::mount("bpf", path, "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700") < 0)
        return errno;
    pd.fd.reset(::open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!pd.fd) return errno;
    return on_bpffs(pd.fd.get()) ? 0 : EMEDIUMTYPE;
}

// Pins are named after the cgroup id so one directory can hold the guards of many cgroups. No
// dots: bpffs reserves names with a dot and refuses them with EPERM.
struct pin_name {
    char name[64];
    pin_name(uint64_t cg_id, const guard_kind& k) noexcept {
        std::snprintf(name, sizeof name, "connectx-guard-%llu-%s",
                      static_cast<unsigned long long>(cg_id), k.pin_suffix);
    }
};

int pin_path(const pin_dir& pd, uint64_t cg_id, const guard_kind& k,
             char (&out)[PATH_MAX]) noexcept {
    pin_name n(cg_id, k);
    int len = std::snprintf(out, sizeof out, "%s/%s", pd.path, n.name);
    return len < 0 || static_cast<size_t>(len) >= sizeof out ? ENAMETOOLONG : 0;
}

bool pin_exists(const pin_dir& pd, uint64_t cg_id, const guard_kind& k) noexcept {
    struct stat st {};
    return ::fstatat(pd.fd.get(), pin_name(cg_id, k).name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

// Is program `prog_id` one of the guard's programs for `k`? (A program freed meanwhile is not.)
bool is_guard_prog(uint32_t prog_id, const guard_kind& k) noexcept {
    unique_fd fd(bpf_prog_get_fd_by_id(prog_id));
    if (!fd) return false;
    bpf_prog_info info{};
    if (info_of(fd.get(), info) != 0) return false;
    return info.type == BPF_PROG_TYPE_CGROUP_SOCK_ADDR &&
           std::strncmp(info.name, k.prog_name, sizeof info.name) == 0;
}

// Ids of the guard programs attached directly to the cgroup (not inherited), per kind; 0 = none.
int query_guard_progs(const cgroup_dir& cg, uint32_t (&ids)[kKindCount]) noexcept {
    for (int i = 0; i < kKindCount; ++i) {
        ids[i] = 0;
        uint32_t prog_ids[kMaxCgroupProgs];
        struct bpf_prog_query_opts q {};  // "struct": a function has the same name
        q.sz = sizeof q;
        q.prog_ids = prog_ids;
        q.prog_cnt = kMaxCgroupProgs;
        if (int e = bpf_err(bpf_prog_query_opts(cg.fd.get(), kKinds[i].type, &q))) return e;
        for (uint32_t j = 0; j < q.prog_cnt && !ids[i]; ++j)
            if (is_guard_prog(prog_ids[j], kKinds[i])) ids[i] = prog_ids[j];
    }
    return 0;
}

// Calls f(link_fd, kind index) for every live cgroup link of a guard program on this cgroup,
// whichever process made it. Walking link ids is the only way to reach another process's
// unpinned link; it needs CAP_SYS_ADMIN, which attaching needed anyway.
template <class F>
int for_each_guard_link(const cgroup_dir& cg, F&& f) noexcept {
    uint32_t id = 0;
    int rc;
    while ((rc = bpf_link_get_next_id(id, &id)) == 0) {
        unique_fd fd(bpf_link_get_fd_by_id(id));
        if (!fd) {
            // ENOENT: freed since get_next_id. EAGAIN: being made by another program (the kernel
            // gives a link no id before it is settled, and says it does not exist yet).
            if (errno == ENOENT || errno == EAGAIN) continue;
            return errno;
        }
        bpf_link_info li{};
        if (info_of(fd.get(), li) != 0 || li.type != BPF_LINK_TYPE_CGROUP ||
            li.cgroup.cgroup_id != cg.id)
            continue;
        for (int i = 0; i < kKindCount; ++i) {
            if (li.cgroup.attach_type != kKinds[i].type || !is_guard_prog(li.prog_id, kKinds[i]))
                continue;
            if (int e = f(fd.get(), i)) return e;
        }
    }
    return rc == -ENOENT ? 0 : -rc;  // ENOENT: past the last id
}

// A pin that is not a guard link attached to this cgroup (a link detached earlier without its
// pin directory, or a foreign object) would be shadowed by a new pin: refuse, never overwrite.
int check_pin(const pin_dir& pd, const cgroup_dir& cg, const guard_kind& k) noexcept {
    char path[PATH_MAX];
    if (int e = pin_path(pd, cg.id, k, path)) return e;
    unique_fd fd(bpf_obj_get(path));
    if (!fd) return errno == ENOENT ? 0 : errno;
    bpf_link_info li{};
    if (info_of(fd.get(), li) != 0 || li.type != BPF_LINK_TYPE_CGROUP ||
        li.cgroup.cgroup_id != cg.id || li.cgroup.attach_type != k.type ||
        !is_guard_prog(li.prog_id, k))
        return EEXIST;
    return 0;
}

// Pins created during one attach, removed again if the attach fails later.
struct pin_rollback {
    char paths[kKindCount][PATH_MAX];
    int count = 0;
    bool committed = false;
    ~pin_rollback() {
        if (committed) return;
        for (int i = 0; i < count; ++i) ::unlink(paths[i]);
    }
};

// Pins the existing links of kinds in `mask` that lack a pin (an earlier unpinned attach
// becomes persistent when attach is repeated with a pin directory).
int pin_existing(const pin_dir& pd, const cgroup_dir& cg, uint32_t mask,
                 pin_rollback& rb) noexcept {
    return for_each_guard_link(cg, [&](int link_fd, int i) {
        if (!(mask & kKinds[i].bit) || pin_exists(pd, cg.id, kKinds[i])) return 0;
        char* path = rb.paths[rb.count];
        if (int e = pin_path(pd, cg.id, kKinds[i], rb.paths[rb.count])) return e;
        if (int e = bpf_err(bpf_obj_pin(link_fd, path))) return e;
        ++rb.count;
        return 0;
    });
}

struct skeleton_deleter {
    void operator()(connectx_guard_bpf* s) const noexcept { connectx_guard_bpf__destroy(s); }
};
using skeleton_ptr = std::unique_ptr<connectx_guard_bpf, skeleton_deleter>;

struct link_deleter {
    void operator()(bpf_link* l) const noexcept { bpf_link__destroy(l); }
};
using link_ptr = std::unique_ptr<bpf_link, link_deleter>;

bpf_program* program(connectx_guard_bpf& s, int i) noexcept {
    return i == 0 ? s.progs.connectx_guard4 : s.progs.connectx_guard6;
}

// Sums the guard's per-CPU counters of the map(s) used by program `prog_id` into `st`; `seen`
// avoids counting the map both programs share twice.
int add_counters(uint32_t prog_id, uint32_t (&seen)[kKindCount * kMaxProgMaps], uint32_t& nseen,
                 connectx_guard_info& st) noexcept {
    unique_fd prog(bpf_prog_get_fd_by_id(prog_id));
    if (!prog) return errno == ENOENT ? 0 : errno;
    uint32_t map_ids[kMaxProgMaps] = {};
    bpf_prog_info info{};
    info.nr_map_ids = kMaxProgMaps;
    info.map_ids = reinterpret_cast<uintptr_t>(map_ids);
    if (int e = info_of(prog.get(), info)) return e;
    int ncpus = libbpf_num_possible_cpus();
    if (ncpus <= 0) return -ncpus;
    std::unique_ptr<uint64_t[]> values(new (std::nothrow) uint64_t[static_cast<size_t>(ncpus)]);
    if (!values) return ENOMEM;
    uint32_t n = info.nr_map_ids < kMaxProgMaps ? info.nr_map_ids : kMaxProgMaps;
    for (uint32_t m = 0; m < n; ++m) {
        bool dup = false;
        for (uint32_t j = 0; j < nseen; ++j) dup = dup || seen[j] == map_ids[m];
        if (dup) continue;
        seen[nseen++] = map_ids[m];
        unique_fd map(bpf_map_get_fd_by_id(map_ids[m]));
        if (!map) continue;
        bpf_map_info mi{};
        if (info_of(map.get(), mi) != 0 || std::strcmp(mi.name, kStatsMap) != 0 ||
            mi.type != BPF_MAP_TYPE_PERCPU_ARRAY || mi.value_size != sizeof(uint64_t) ||
            mi.max_entries < kStatCount)
            continue;
        uint64_t* out[kStatCount];
        out[kStatChecked] = &st.checked;
        out[kStatRefused] = &st.refused;
        out[kStatSkipped] = &st.skipped;
        for (uint32_t key = 0; key < kStatCount; ++key) {
            if (int e = bpf_err(bpf_map_lookup_elem(map.get(), &key, values.get()))) return e;
            for (int c = 0; c < ncpus; ++c) *out[key] += values[static_cast<size_t>(c)];
        }
    }
    return 0;
}

}  // namespace
}  // namespace cx::detail

// The handle: the loaded programs and the links this process made.
struct connectx_guard {
    cx::detail::skeleton_ptr skel;
    cx::detail::link_ptr links[cx::detail::kKindCount];
};

namespace cx::detail {
namespace {

// Loads the guard and attaches the programs of `missing_mask` to `cg`, pinning each link in `pd`
// when there is one (recorded in `rb`). The handle, if asked for, gets the skeleton and links.
int attach_missing(const cgroup_dir& cg, const pin_dir& pd, uint32_t missing_mask, pin_rollback& rb,
                   connectx_guard** out) noexcept {
    skeleton_ptr skel(connectx_guard_bpf__open());
    if (!skel) return errno;
    if (int e = bpf_err(connectx_guard_bpf__load(skel.get()))) return e;
    link_ptr links[kKindCount];
    for (int i = 0; i < kKindCount; ++i) {
        if (!(missing_mask & kKinds[i].bit)) continue;
        links[i].reset(bpf_program__attach_cgroup(program(*skel, i), cg.fd.get()));
        if (!links[i]) return errno;  // links made so far close, hence detach, here
        if (!pd) continue;
        if (int e = pin_path(pd, cg.id, kKinds[i], rb.paths[rb.count])) return e;
        if (int e = bpf_err(bpf_link__pin(links[i].get(), rb.paths[rb.count]))) return e;
        ++rb.count;
    }
    if (out) {
        auto* g = new (std::nothrow) connectx_guard;
        if (!g) return ENOMEM;
        g->skel = std::move(skel);
        for (int i = 0; i < kKindCount; ++i) g->links[i] = std::move(links[i]);
        *out = g;
    }
    rb.committed = true;  // pinned links survive the skeleton and link fds closing below
    return 0;
}

int attach(const char* cgroup, const connectx_guard_opts* opts, connectx_guard** out,
           guard_change& change) noexcept {
    change = guard_change::none;
    uint32_t flags = 0;
    const char* pin = nullptr;
    if (int e = parse_opts(opts, flags, pin)) return e;
    if (!out && !pin) return EINVAL;
    cgroup_dir cg;
    if (int e = open_cgroup(cgroup, cg)) return e;
    if (cg.root && !(flags & CONNECTX_GUARD_F_FORCE_ROOT)) return EPERM;
    pin_dir pd;
    if (int e = open_pin_dir(pin, (flags & CONNECTX_GUARD_F_MOUNT_BPFFS) != 0, pd)) return e;
    if (int e = lock_cgroup(cg)) return e;

    uint32_t present[kKindCount];
    if (int e = query_guard_progs(cg, present)) return e;
    uint32_t present_mask = 0, missing_mask = 0;
    for (int i = 0; i < kKindCount; ++i)
        (present[i] ? present_mask : missing_mask) |= kKinds[i].bit;
    pin_rollback rb;
    if (pd) {
        for (int i = 0; i < kKindCount; ++i)
            if (int e = check_pin(pd, cg, kKinds[i])) return e;
        if (int e = pin_existing(pd, cg, present_mask, rb)) return e;
    }
    if (!missing_mask) {
        rb.committed = true;
        return 0;
    }
    if (int e = attach_missing(cg, pd, missing_mask, rb, out)) return e;
    change = guard_change::changed;
    return 0;
}

// Detaches every guard program from `cg` (links and link-less attachments alike).
int detach_programs(const cgroup_dir& cg, guard_change& change) noexcept {
    // BPF_LINK_DETACH cuts the link from the cgroup now, even while another process (or a pin)
    // still holds it: that holder is left with a defunct link.
    if (int e = for_each_guard_link(cg, [&](int link_fd, int) {
            if (int err = bpf_err(bpf_link_detach(link_fd))) return err;
            change = guard_change::changed;
            return 0;
        }))
        return e;
    // A guard program attached without a link (e.g. `bpftool cgroup attach ... multi`).
    uint32_t ids[kKindCount];
    if (int e = query_guard_progs(cg, ids)) return e;
    for (int i = 0; i < kKindCount; ++i) {
        if (!ids[i]) continue;
        unique_fd prog(bpf_prog_get_fd_by_id(ids[i]));
        if (!prog) return errno;
        if (int e = bpf_err(bpf_prog_detach2(prog.get(), cg.fd.get(), kKinds[i].type))) return e;
        change = guard_change::changed;
    }
    return 0;
}

int detach(const char* cgroup, const connectx_guard_opts* opts, guard_change& change) noexcept {
    change = guard_change::none;
    uint32_t flags = 0;
    const char* pin = nullptr;
    if (int e = parse_opts(opts, flags, pin)) return e;
    cgroup_dir cg;
    if (int e = open_cgroup(cgroup, cg)) return e;
    pin_dir pd;
    if (int e = open_pin_dir(pin, false, pd)) return e;
    if (int e = lock_cgroup(cg)) return e;
    if (int e = detach_programs(cg, change)) return e;
    if (!pd) return 0;
    for (int i = 0; i < kKindCount; ++i) {
        if (::unlinkat(pd.fd.get(), pin_name(cg.id, kKinds[i]).name, 0) == 0)
            change = guard_change::changed;
        else if (errno != ENOENT)
            return errno;
    }
    return 0;
}

int status(const char* cgroup, const connectx_guard_opts* opts, connectx_guard_info* st) noexcept {
    uint32_t flags = 0;
    const char* pin = nullptr;
    if (int e = parse_opts(opts, flags, pin)) return e;
    if (!st || st->size != sizeof *st) return EINVAL;
    cgroup_dir cg;
    if (int e = open_cgroup(cgroup, cg)) return e;
    pin_dir pd;
    if (int e = open_pin_dir(pin, false, pd)) return e;

    connectx_guard_info s{};
    s.size = sizeof s;
    uint32_t ids[kKindCount];
    if (int e = query_guard_progs(cg, ids)) return e;
    uint32_t seen[kKindCount * kMaxProgMaps];
    uint32_t nseen = 0;
    for (int i = 0; i < kKindCount; ++i) {
        if (pd && pin_exists(pd, cg.id, kKinds[i])) s.pinned |= kKinds[i].bit;
        if (!ids[i]) continue;
        s.attached |= kKinds[i].bit;
        if (int e = add_counters(ids[i], seen, nseen, s)) return e;
    }
    s.prog_id4 = ids[0];
    s.prog_id6 = ids[1];
    *st = s;
    return 0;
}

}  // namespace
}  // namespace cx::detail

extern "C" {

int connectx_guard_attach(const char* cgroup, const connectx_guard_opts* opts,
                          connectx_guard** guard) {
    if (guard) *guard = nullptr;
    cx::detail::guard_change change;
    int e = cx::detail::attach(cgroup, opts, guard, change);
    return cx::detail::c_result(e, change);
}

int connectx_guard_detach(const char* cgroup, const connectx_guard_opts* opts) {
    cx::detail::guard_change change;
    int e = cx::detail::detach(cgroup, opts, change);
    return cx::detail::c_result(e, change);
}

int connectx_guard_status(const char* cgroup, const connectx_guard_opts* opts,
                          connectx_guard_info* status) {
    return cx::detail::c_result(cx::detail::status(cgroup, opts, status));
}

void connectx_guard_close(connectx_guard* guard) {
    int saved = errno;
    delete guard;  // links first (members destroy in reverse order), then the programs
    errno = saved;
}

int connectx_guard_available(void) {
    return 1;
}

}  // extern "C"

#endif  // CONNECTX_HAVE_BPF
