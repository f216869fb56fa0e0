// sock_ops.hpp - a few operations on one socket made in one system call where the kernel can,
// one system call each where it cannot, with the same results either way.
//
// A system call costs more than the work of most socket calls on a machine with page-table
// isolation (1-1.5 us here, against ~0.3 us for a getsockopt's own work), and a UDP connectx()
// makes several. io_uring carries them in one io_uring_enter: socket options from 6.7
// (getsockopt at SOL_SOCKET only), bind from 6.11, connect always. Each thread that calls gets a
// small ring of its own (8 entries, one fd, made at its 65th batch: kCallsBeforeRing); a process
// that cannot have one
// (io_uring disabled by kernel.io_uring_disabled or a seccomp filter, a kernel without it, more
// than 256 threads at once, CONNECTX_IO_URING=0 in the environment) makes the same calls one by
// one. A fork child never uses its parent's ring: the fd is one the library owns (owned_fds,
// closed in the child) and the child's thread makes a new ring.
#pragma once

#include <sys/socket.h>

namespace cx::detail {

class sock_ops {
public:
    enum class mode {
        each,   // getsockopt only: every one is made, each has its own result
        chain,  // in order, each only if the one before succeeded (the rest: ECANCELED)
    };
    static constexpr int kMax = 6;
    // A thread's first batches go one by one; its ring is made at the next. A ring costs ~25 us
    // to make and ~25 us to close here (several times that on a loaded machine), a batch saves
    // ~1-6 us: threads that connect a few times and exit do better without.
    static constexpr unsigned kCallsBeforeRing = 64;

    sock_ops(int fd, mode m) noexcept : fd_(fd), mode_(m) {}
    // Whether socket options go in one system call on this thread now, its ring made (questions
    // worth asking together only then). Asking counts no batch.
    static bool batches() noexcept;
    sock_ops(const sock_ops&) = delete;
    sock_ops& operator=(const sock_ops&) = delete;

    // Queue an operation; the pointers must stay valid until run(). At most kMax.
    void get(int level, int name, void* value, socklen_t len) noexcept;
    void set(int level, int name, int value) noexcept;
    void bind(const sockaddr* sa, socklen_t len) noexcept;
    void connect(const sockaddr* sa, socklen_t len) noexcept;

    void run() noexcept;
    // After run(): 0, the errno the operation's own system call would have set, ECANCELED
    // (chain: an earlier one failed, this one was not made), or EIO (the ring's fd was closed by
    // someone else while the call waited: whether the operation was made is unknown).
    int error(int i) const noexcept { return err_[i]; }
    // How many of them, from the first, went through the ring (the rest: one call each).
    int in_ring() const noexcept { return in_ring_; }

private:
    enum class kind : unsigned char { get, set, bind, connect };
    struct op {
        kind k;
        int level;
        int name;
        void* value;         // get: where to; set: &values_[i]
        const sockaddr* sa;  // bind, connect
        socklen_t len;
    };
    int run_in_ring() noexcept;  // how many ops the ring made, from the first
    void run_each_from(int first) noexcept;

    int fd_;
    mode mode_;
    int n_ = 0;
    op ops_[kMax];
    int values_[kMax] = {};
    int err_[kMax] = {};
    int in_ring_ = 0;
    bool cmd_refused_ = false;  // the ring answered EOPNOTSUPP to a socket option
};

}  // namespace cx::detail
