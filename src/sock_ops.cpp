// sock_ops.cpp - the operations of sock_ops.hpp through a per-thread io_uring, or one system
// call each: the ring, what the kernel offers it, and the fallback.
#include "sock_ops.hpp"

#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "netns_registry.hpp"
#include "owned_fds.hpp"

namespace cx::detail {
namespace {

// Opcodes and socket commands newer than the installed kernel headers may be.
constexpr uint8_t kOpConnect = 16;      // IORING_OP_CONNECT, 5.5
constexpr uint8_t kOpUringCmd = 46;     // IORING_OP_URING_CMD, 5.19
constexpr uint8_t kOpBind = 56;         // IORING_OP_BIND, 6.11
constexpr uint32_t kCmdGetsockopt = 2;  // SOCKET_URING_OP_GETSOCKOPT, 6.7
constexpr uint32_t kCmdSetsockopt = 3;  // SOCKET_URING_OP_SETSOCKOPT, 6.7
constexpr uint8_t kLink = 1U << 2;      // IOSQE_IO_LINK
constexpr unsigned kEntries = 8;
constexpr int kMaxRings = 256;  // threads with a ring at once; the others make plain calls

// A submission entry, written field by field at the offsets of the kernel's layout (the installed
// header may predate the socket-command fields).
struct sqe_bytes {
    unsigned char b[64];
    template <class T>
    void put(size_t at, T v) noexcept {
        std::memcpy(b + at, &v, sizeof v);
    }
};
static_assert(sizeof(sqe_bytes) == 64);
constexpr size_t kAtOpcode = 0, kAtFlags = 1, kAtFd = 4, kAtOff = 8 /* cmd_op, addr2 */,
                 kAtAddr = 16 /* level */, kAtOptname = 20, kAtUserData = 32, kAtOptlen = 44,
                 kAtOptval = 48;

std::atomic<bool> g_no_rings{false};     // io_uring refused here: every call one by one
std::atomic<bool> g_no_sock_cmd{false};  // socket options refused through the ring (before 6.7)
std::atomic<int> g_rings{0};             // threads with a ring now
std::atomic<unsigned> g_rings_generation{0};  // of owned_fds_generation(): g_rings counts for it

bool disabled_by_environment() noexcept {
    static const bool off = [] {
        const char* v = std::getenv("CONNECTX_IO_URING");
        return v != nullptr && std::strcmp(v, "0") == 0;
    }();
    return off;
}

int setup_ring(void* params) noexcept {
    return int(syscall(__NR_io_uring_setup, kEntries, params));
}

unsigned load_acquire(unsigned* p) noexcept {
    return std::atomic_ref<unsigned>(*p).load(std::memory_order_acquire);
}
void store_release(unsigned* p, unsigned v) noexcept {
    std::atomic_ref<unsigned>(*p).store(v, std::memory_order_release);
}

class ring {
public:
    ring() noexcept = default;
    ring(const ring&) = delete;
    ring& operator=(const ring&) = delete;
    ~ring() {
        const bool ours = generation_ == owned_fds_generation();
        drop(ours, ours);
    }

    // The thread's ring, made at its batch after the first kCallsBeforeRing; false when it has
    // none (yet).
    bool ready() noexcept {
        if (made()) return true;
        if (fd_ >= 0) drop(false, false);  // a fork child: fd closed, mapping the parent's
        if (g_no_rings.load(std::memory_order_relaxed) || disabled_by_environment()) return false;
        if (asked_ < sock_ops::kCallsBeforeRing) {
            ++asked_;
            return false;
        }
        const unsigned gen = owned_fds_generation();
        if (g_rings_generation.exchange(gen, std::memory_order_relaxed) != gen)
            g_rings.store(0, std::memory_order_relaxed);  // a fork child: the parent's rings
        if (g_rings.fetch_add(1, std::memory_order_relaxed) >= kMaxRings) {
            g_rings.fetch_sub(1, std::memory_order_relaxed);
            asked_ = 0;
            return false;
        }
        if (make()) {
            counted_ = true;
            return true;
        }
        g_rings.fetch_sub(1, std::memory_order_relaxed);
        asked_ = 0;  // EMFILE, ENOMEM (memlock before 5.12)...: not again before as many batches
        return false;
    }
    // The ring is there now (asking neither counts a batch nor makes it).
    bool made() const noexcept { return fd_ >= 0 && generation_ == owned_fds_generation(); }
    bool has_bind() const noexcept { return has_bind_; }

    // Submits entries [0, n) already written by `fill`, waits for their completions, and stores
    // each one's result by its index. How many were consumed, from the first (the others were
    // not made; the ring is then dropped).
    template <class Fill>
    int submit(int n, Fill fill, int* results) noexcept {
        const unsigned tail = *sq_tail_;
        for (int i = 0; i < n; ++i) {
            const unsigned slot = (tail + unsigned(i)) & sq_mask_;
            sqe_bytes& s = sqes_[slot];
            std::memset(&s, 0, sizeof s);
            fill(i, s);
            s.put(kAtUserData, uint64_t(i));
            sq_array_[slot] = slot;
        }
        store_release(sq_tail_, tail + unsigned(n));
        long r;
        do {
            r = syscall(__NR_io_uring_enter, fd_, unsigned(n), unsigned(n), IORING_ENTER_GETEVENTS,
                        nullptr, 0);
        } while (r < 0 && errno == EINTR && load_acquire(sq_head_) == tail);
        const bool fd_gone = r < 0 && errno == EBADF;
        const int consumed = int(load_acquire(sq_head_) - tail);
        for (int i = 0; i < consumed; ++i) results[i] = -EIO;  // unless a completion says
        int got = 0;
        bool broken = false;
        while (got < consumed) {
            unsigned head = *cq_head_;
            const unsigned ready = load_acquire(cq_tail_);
            for (; head != ready; ++head, ++got) {
                const io_uring_cqe& c = cqes_[head & cq_mask_];
                if (c.user_data < uint64_t(n)) results[c.user_data] = c.res;
            }
            store_release(cq_head_, head);
            if (got < consumed &&
                syscall(__NR_io_uring_enter, fd_, 0U, unsigned(consumed - got),
                        IORING_ENTER_GETEVENTS, nullptr, 0) < 0 &&
                errno != EINTR) {
                broken = true;  // its fd closed behind the library's back, say: EIO for the rest
                break;
            }
        }
        // Entries left in the queue would go with the next submission: never use this ring
        // again. (A ring whose fd the program closed behind the library's back ends here too:
        // that number is not the library's to close any more.)
        if (consumed < n || broken) drop(!fd_gone && !broken, true);
        return consumed;
    }

private:
    bool make() noexcept {
        install_fork_handlers();  // before the fd exists: a fork child must close it
        io_uring_params p{};
        p.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
        int fd = -1;
        int e = owned_make(setup_ring, &p, fd);
        if (e == EINVAL) {  // before 6.1: without the last two
            p = {};
            p.flags = IORING_SETUP_SUBMIT_ALL;
            e = owned_make(setup_ring, &p, fd);
        }
        if (e == ENOSYS || e == EPERM || e == EACCES || e == EINVAL) {
            g_no_rings.store(true, std::memory_order_relaxed);  // refused for good here
            return false;
        }
        if (e) return false;  // EMFILE, ENOMEM, ENOBUFS: maybe the next call
        fd_ = fd;
        generation_ = owned_fds_generation();
        if (!(p.features & IORING_FEAT_SINGLE_MMAP) || !map(p) || !probe()) {
            g_no_rings.store(true, std::memory_order_relaxed);
            drop(true, true);
            return false;
        }
        return true;
    }

    bool map(const io_uring_params& p) noexcept {
        map_len_ = std::max(size_t(p.sq_off.array) + p.sq_entries * sizeof(unsigned),
                            size_t(p.cq_off.cqes) + p.cq_entries * sizeof(io_uring_cqe));
        void* m = mmap(nullptr, map_len_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_,
                       IORING_OFF_SQ_RING);
        if (m == MAP_FAILED) return false;
        map_ = static_cast<unsigned char*>(m);
        sqes_len_ = p.sq_entries * sizeof(sqe_bytes);
        m = mmap(nullptr, sqes_len_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_,
                 IORING_OFF_SQES);
        if (m == MAP_FAILED) return false;
        sqes_ = static_cast<sqe_bytes*>(m);
        auto at = [&](uint32_t off) { return reinterpret_cast<unsigned*>(map_ + off); };
        sq_head_ = at(p.sq_off.head);
        sq_tail_ = at(p.sq_off.tail);
        sq_mask_ = *at(p.sq_off.ring_mask);
        sq_array_ = at(p.sq_off.array);
        cq_head_ = at(p.cq_off.head);
        cq_tail_ = at(p.cq_off.tail);
        cq_mask_ = *at(p.cq_off.ring_mask);
        cqes_ = reinterpret_cast<io_uring_cqe*>(map_ + p.cq_off.cqes);
        return true;
    }

    // The opcodes this kernel knows: socket commands need URING_CMD, binds IORING_OP_BIND.
    bool probe() noexcept {
        constexpr unsigned kOps = 64;
        alignas(io_uring_probe) unsigned char
            buf[sizeof(io_uring_probe) + kOps * sizeof(io_uring_probe_op)] = {};
        auto* pr = reinterpret_cast<io_uring_probe*>(buf);
        if (syscall(__NR_io_uring_register, fd_, IORING_REGISTER_PROBE, pr, kOps) != 0)
            return false;
        auto supported = [&](uint8_t op) {
            return op < pr->ops_len && (pr->ops[op].flags & IO_URING_OP_SUPPORTED);
        };
        if (!supported(kOpConnect) || !supported(kOpUringCmd)) return false;
        has_bind_ = supported(kOpBind);
        return true;
    }

    // Forgets the ring; unmaps it and closes its fd when they are still the thread's. A fork
    // child does neither: the fork handler closed the fd (its number may be another's now), and
    // the mapping is shared with the parent's ring.
    void drop(bool close_fd, bool unmap) noexcept {
        if (unmap) {
            if (sqes_) munmap(sqes_, sqes_len_);
            if (map_) munmap(map_, map_len_);
        }
        if (close_fd && fd_ >= 0) owned_fd_close(fd_);
        if (counted_ && generation_ == owned_fds_generation())
            g_rings.fetch_sub(1, std::memory_order_relaxed);
        counted_ = false;
        fd_ = -1;
        map_ = nullptr;
        sqes_ = nullptr;
    }

    int fd_ = -1;
    unsigned generation_ = 0;
    bool counted_ = false;  // in g_rings
    unsigned asked_ = 0;    // batches this thread made without a ring
    bool has_bind_ = false;
    unsigned char* map_ = nullptr;
    size_t map_len_ = 0;
    sqe_bytes* sqes_ = nullptr;
    size_t sqes_len_ = 0;
    unsigned* sq_head_ = nullptr;
    unsigned* sq_tail_ = nullptr;
    unsigned sq_mask_ = 0;
    unsigned* sq_array_ = nullptr;
    unsigned* cq_head_ = nullptr;
    unsigned* cq_tail_ = nullptr;
    unsigned cq_mask_ = 0;
    io_uring_cqe* cqes_ = nullptr;
};

thread_local ring t_ring;

}  // namespace

bool sock_ops::batches() noexcept {
    return !g_no_sock_cmd.load(std::memory_order_relaxed) && t_ring.made();
}

void sock_ops::get(int level, int name, void* value, socklen_t len) noexcept {
    ops_[n_] = op{kind::get, level, name, value, nullptr, len};
    ++n_;
}

void sock_ops::set(int level, int name, int value) noexcept {
    values_[n_] = value;
    ops_[n_] = op{kind::set, level, name, &values_[n_], nullptr, sizeof(int)};
    ++n_;
}

void sock_ops::bind(const sockaddr* sa, socklen_t len) noexcept {
    ops_[n_] = op{kind::bind, 0, 0, nullptr, sa, len};
    ++n_;
}

void sock_ops::connect(const sockaddr* sa, socklen_t len) noexcept {
    ops_[n_] = op{kind::connect, 0, 0, nullptr, sa, len};
    ++n_;
}

void sock_ops::run() noexcept {
    const int made = n_ > 1 ? run_in_ring() : 0;
    in_ring_ = made;
    run_each_from(made);
    // A command refused by a socket (not by a file that is no socket): this kernel has none.
    if (made < n_ && cmd_refused_ && err_[made] != ENOTSOCK)
        g_no_sock_cmd.store(true, std::memory_order_relaxed);
}

int sock_ops::run_in_ring() noexcept {
    // What the ring can carry: getsockopt at SOL_SOCKET, setsockopt, connect, bind from 6.11.
    if (g_no_sock_cmd.load(std::memory_order_relaxed)) return 0;
    bool binds = false;
    for (int i = 0; i < n_; ++i) {
        if (ops_[i].k == kind::get && ops_[i].level != SOL_SOCKET) return 0;
        binds |= ops_[i].k == kind::bind;
    }
    if (!t_ring.ready() || (binds && !t_ring.has_bind())) return 0;
    int res[kMax];
    const int made = t_ring.submit(
        n_,
        [&](int i, sqe_bytes& s) {
            const op& o = ops_[i];
            s.put(kAtFd, int32_t(fd_));
            if (mode_ == mode::chain && i + 1 < n_) s.put(kAtFlags, kLink);
            switch (o.k) {
                case kind::get:
                case kind::set:
                    s.put(kAtOpcode, kOpUringCmd);
                    s.put(kAtOff, o.k == kind::get ? kCmdGetsockopt : kCmdSetsockopt);
                    s.put(kAtAddr, uint32_t(o.level));
                    s.put(kAtOptname, uint32_t(o.name));
                    s.put(kAtOptlen, uint32_t(o.len));
                    s.put(kAtOptval, uint64_t(reinterpret_cast<uintptr_t>(o.value)));
                    break;
                case kind::bind:
                case kind::connect:
                    s.put(kAtOpcode, o.k == kind::bind ? kOpBind : kOpConnect);
                    s.put(kAtAddr, uint64_t(reinterpret_cast<uintptr_t>(o.sa)));
                    s.put(kAtOff, uint64_t(o.len));
                    break;
            }
        },
        res);
    if (made == 0) return 0;
    for (int i = 0; i < made; ++i) {
        // A socket without a command handler (before 6.7) answers EOPNOTSUPP, as does any file
        // that is no socket; no call made here has that errno of its own. From there on, one by
        // one (run() tells the two apart).
        if (res[i] == -EOPNOTSUPP && (ops_[i].k == kind::get || ops_[i].k == kind::set)) {
            cmd_refused_ = true;
            return i;
        }
        err_[i] = res[i] < 0 ? -res[i] : 0;  // a getsockopt answers its length
    }
    return made;
}

void sock_ops::run_each_from(int first) noexcept {
    bool failed = false;
    for (int i = 0; i < first; ++i) failed |= err_[i] != 0;
    for (int i = first; i < n_; ++i) {
        const op& o = ops_[i];
        if (mode_ == mode::chain && failed) {
            err_[i] = ECANCELED;
            continue;
        }
        socklen_t len = o.len;
        int rc = 0;
        switch (o.k) {
            case kind::get:
                rc = ::getsockopt(fd_, o.level, o.name, o.value, &len);
                break;
            case kind::set:
                rc = ::setsockopt(fd_, o.level, o.name, o.value, len);
                break;
            case kind::bind:
                rc = ::bind(fd_, o.sa, len);
                break;
            case kind::connect:
                rc = ::connect(fd_, o.sa, len);
                break;
        }
        err_[i] = rc < 0 ? errno : 0;
        failed |= rc < 0;
    }
}

}  // namespace cx::detail
