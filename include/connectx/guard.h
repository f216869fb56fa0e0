/*
 * guard.h - the optional BPF guard: cgroup connect4/connect6 programs that make the kernel refuse
 * (EPERM) a UDP connect() whose exact 4-tuple is already held by another connected socket, for
 * every process in a cgroup v2 directory the operator names.
 *
 * It closes the gap connectx's own lock cannot: a program that does not use connectx may bind
 * with SO_REUSEADDR and connect onto an ESTABLISHED 4-tuple, silently starving the older flow.
 * The guard checks only sockets with an explicit local address and port at connect() time; see
 * connectx-guard(8) and docs/guard.md for what it cannot see.
 *
 * Lifetime: the guard is a pair of BPF links. Without a pin directory they live as long as the
 * struct connectx_guard handle returned by connectx_guard_attach(); with one they are pinned in
 * bpffs and live until connectx_guard_detach(), whichever process calls it.
 *
 * Needs CAP_BPF + CAP_NET_ADMIN (or CAP_SYS_ADMIN), a kernel with BPF links for cgroups (5.7),
 * and a library built with CONNECTX_BUILD_BPF. This header is valid C99 and C++.
 */
#ifndef CONNECTX_GUARD_H
#define CONNECTX_GUARD_H

#include <stdint.h>

#include <connectx/connectx.h>

#ifdef __cplusplus
extern "C" {
#endif

/* connectx_guard_opts.flags */
#define CONNECTX_GUARD_F_FORCE_ROOT 0x1u   /* allow the root cgroup (every process on the host) */
#define CONNECTX_GUARD_F_MOUNT_BPFFS 0x2u  /* mount bpffs on pin_dir if it is not already one */
#define CONNECTX_GUARD_F_ALL (CONNECTX_GUARD_F_FORCE_ROOT | CONNECTX_GUARD_F_MOUNT_BPFFS)

/* Bits of connectx_guard_info.attached / .pinned */
#define CONNECTX_GUARD_CONNECT4 0x1u /* the cgroup/connect4 program (IPv4 sockaddrs) */
#define CONNECTX_GUARD_CONNECT6 0x2u /* the cgroup/connect6 program (IPv6, v4-mapped included) */

/*
 * Optional knobs; may be NULL. Zero-initialise and set `size = sizeof(struct
 * connectx_guard_opts)`: the structure can grow without breaking the ABI.
 */
struct connectx_guard_opts {
    uint32_t size;       /* sizeof(struct connectx_guard_opts) */
    uint32_t flags;      /* CONNECTX_GUARD_F_*; unknown bits are EINVAL */
    const char *pin_dir; /* a directory on bpffs (e.g. /sys/fs/bpf/connectx), or NULL */
};

/* What connectx_guard_status() found. Set `size` before the call. */
struct connectx_guard_info {
    uint32_t size;     /* sizeof(struct connectx_guard_info), set by the caller */
    uint32_t attached; /* CONNECTX_GUARD_CONNECT* bits of the guard programs on the cgroup */
    uint32_t pinned;   /* CONNECTX_GUARD_CONNECT* bits of the links pinned in opts->pin_dir */
    uint32_t prog_id4; /* kernel id of the attached connect4 program, 0 if none */
    uint32_t prog_id6; /* kernel id of the attached connect6 program, 0 if none */
    uint32_t reserved_; /* zero */
    uint64_t checked;  /* UDP connects with an explicit local end that were looked up */
    uint64_t refused;  /* of those, refused with EPERM: the 4-tuple was taken */
    uint64_t skipped;  /* UDP connects the guard could not check (no explicit local end) */
};

/* A guard attached by this process; owns the links and the loaded programs. */
struct connectx_guard;

/*
 * Attach the guard to the cgroup v2 directory `cgroup`: load the programs, attach one BPF link
 * per program and, when opts->pin_dir is set, pin the links there as
 * "connectx-guard-<cgroup id>-connect4" and "-connect6" so they outlive this process.
 *
 * Idempotent: when guard programs are already attached to that cgroup (by any process), nothing
 * is added and 0 is returned with *guard = NULL.
 *
 * `guard` receives the handle that owns the new links; release it with connectx_guard_close().
 * It may be NULL only with a pin_dir (the pins keep the guard; the handle would be useless).
 *
 * Returns 1 when this call attached the guard, 0 when it was already attached, -1 with errno:
 *   ENOTSUP     the library was built without CONNECTX_BUILD_BPF.
 *   EINVAL      cgroup is NULL or empty; opts->size unknown; unknown flags; guard is NULL
 *               without a pin_dir.
 *   ENOENT      the cgroup (or pin_dir) does not exist.
 *   ENOTDIR     the cgroup (or pin_dir) is not a directory.
 *   EMEDIUMTYPE cgroup is not on a cgroup2 filesystem; or pin_dir is not on bpffs and
 *               CONNECTX_GUARD_F_MOUNT_BPFFS was not given.
 *   EPERM       cgroup is the root of its hierarchy and CONNECTX_GUARD_F_FORCE_ROOT was not
 *               given; or the caller lacks the privileges to load or attach BPF programs.
 *   EEXIST      a pin with the guard's name exists in pin_dir but the guard is not attached to
 *               the cgroup (a stale pin: detach with the same pin_dir first).
 *   ENOMEM, EINVAL, E2BIG, ... from the kernel while loading (the verifier refused the program:
 *               kernel too old) or attaching.
 * On failure nothing stays attached or pinned.
 */
CONNECTX_API int connectx_guard_attach(const char *cgroup, const struct connectx_guard_opts *opts,
                                       struct connectx_guard **guard);

/*
 * Detach every guard link attached to `cgroup`, by whichever process, and remove the guard's
 * pins for that cgroup from opts->pin_dir when given. Idempotent.
 * Returns 1 when something was detached or unpinned, 0 when nothing was there, -1 with errno
 * (ENOTSUP, EINVAL, ENOENT, ENOTDIR, EMEDIUMTYPE as for attach; EPERM without privileges).
 * The root cgroup needs no force flag: detaching only makes things as they were.
 */
CONNECTX_API int connectx_guard_detach(const char *cgroup, const struct connectx_guard_opts *opts);

/*
 * Report whether the guard is attached to `cgroup` and its counters (summed over CPUs and over
 * both programs). Returns 0, or -1 with errno (as for detach; EINVAL also when status is NULL or
 * status->size is unknown).
 */
CONNECTX_API int connectx_guard_status(const char *cgroup, const struct connectx_guard_opts *opts,
                                       struct connectx_guard_info *status);

/*
 * Release a handle from connectx_guard_attach(). Links that are not pinned are detached now;
 * pinned links stay until connectx_guard_detach(). NULL is a no-op. errno is preserved.
 */
CONNECTX_API void connectx_guard_close(struct connectx_guard *guard);

/* 1 when the library was built with the BPF guard, else 0 (then every call fails with ENOTSUP). */
CONNECTX_API int connectx_guard_available(void);

#ifdef __cplusplus
}
#endif

#endif /* CONNECTX_GUARD_H */
