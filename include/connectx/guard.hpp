// guard.hpp - the C++ API of the BPF guard (namespace cx::guard): a thin, header-only layer over
// guard.h. Everything is noexcept; errors are errno values in std::system_category(), exactly
// those documented in guard.h (ENOTSUP when the library was built without the guard).
#ifndef CONNECTX_GUARD_HPP
#define CONNECTX_GUARD_HPP

#include <connectx/guard.h>

#include <cerrno>
#include <connectx/connectx.hpp>
#include <cstdint>
#include <utility>

namespace cx::guard {

struct options {
    const char* pin_dir = nullptr;  // bpffs directory to pin the links in; nullptr = no pins
    bool force_root = false;        // allow the root cgroup
    bool mount_bpffs = false;       // mount bpffs on pin_dir when it is not one (attach only)
};

// The guard on one cgroup, as connectx_guard_status() reports it.
struct state {
    bool connect4 = false;  // the IPv4 program is attached
    bool connect6 = false;  // the IPv6 program is attached
    bool pinned4 = false;   // its link is pinned in options::pin_dir
    bool pinned6 = false;
    uint32_t prog_id4 = 0;  // kernel program ids, 0 when not attached
    uint32_t prog_id6 = 0;
    uint64_t checked = 0;  // UDP connects with an explicit local end that were looked up
    uint64_t refused = 0;  // of those, refused with EPERM
    uint64_t skipped = 0;  // UDP connects the guard could not check
    bool attached() const noexcept { return connect4 && connect6; }
};

// Owns a guard attached by this process. Destroying it detaches links that are not pinned.
class handle {
public:
    handle() noexcept = default;
    explicit handle(connectx_guard* g) noexcept : g_(g) {}
    handle(handle&& o) noexcept : g_(std::exchange(o.g_, nullptr)) {}
    handle& operator=(handle&& o) noexcept {
        if (this != &o) reset(std::exchange(o.g_, nullptr));
        return *this;
    }
    handle(const handle&) = delete;
    handle& operator=(const handle&) = delete;
    ~handle() { reset(); }

    explicit operator bool() const noexcept { return g_ != nullptr; }
    connectx_guard* get() const noexcept { return g_; }
    connectx_guard* release() noexcept { return std::exchange(g_, nullptr); }
    void reset(connectx_guard* g = nullptr) noexcept {
        connectx_guard_close(g_);
        g_ = g;
    }

private:
    connectx_guard* g_ = nullptr;
};

struct attachment {
    handle owner;               // empty when the guard was already attached
    bool attached_now = false;  // false: it was already there and nothing was added
};

namespace detail {
inline connectx_guard_opts to_c(const options& o) noexcept {
    connectx_guard_opts c{};
    c.size = sizeof c;
    c.flags = (o.force_root ? CONNECTX_GUARD_F_FORCE_ROOT : 0u) |
              (o.mount_bpffs ? CONNECTX_GUARD_F_MOUNT_BPFFS : 0u);
    c.pin_dir = o.pin_dir;
    return c;
}
}  // namespace detail

inline bool available() noexcept {
    return connectx_guard_available() != 0;
}

// connectx_guard_attach(): attach to the cgroup v2 directory `cgroup`. Idempotent.
inline result<attachment> attach(const char* cgroup, const options& opts = {}) noexcept {
    connectx_guard_opts c = detail::to_c(opts);
    connectx_guard* g = nullptr;
    int rc = connectx_guard_attach(cgroup, &c, &g);
    if (rc < 0) return errno_code(errno);
    return attachment{handle(g), rc == 1};
}

// connectx_guard_detach(): true when something was detached or unpinned.
inline result<bool> detach(const char* cgroup, const options& opts = {}) noexcept {
    connectx_guard_opts c = detail::to_c(opts);
    int rc = connectx_guard_detach(cgroup, &c);
    if (rc < 0) return errno_code(errno);
    return rc == 1;
}

inline result<state> status(const char* cgroup, const options& opts = {}) noexcept {
    connectx_guard_opts c = detail::to_c(opts);
    connectx_guard_info info{};
    info.size = sizeof info;
    if (connectx_guard_status(cgroup, &c, &info) < 0) return errno_code(errno);
    state s;
    s.connect4 = (info.attached & CONNECTX_GUARD_CONNECT4) != 0;
    s.connect6 = (info.attached & CONNECTX_GUARD_CONNECT6) != 0;
    s.pinned4 = (info.pinned & CONNECTX_GUARD_CONNECT4) != 0;
    s.pinned6 = (info.pinned & CONNECTX_GUARD_CONNECT6) != 0;
    s.prog_id4 = info.prog_id4;
    s.prog_id6 = info.prog_id6;
    s.checked = info.checked;
    s.refused = info.refused;
    s.skipped = info.skipped;
    return s;
}

}  // namespace cx::guard

#endif  // CONNECTX_GUARD_HPP
