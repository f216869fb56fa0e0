// netns_registry.cpp - the registry of namespace states, references to them, fork handling
// and the test hooks.
#include "netns_registry.hpp"

#include <linux/netlink.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <mutex>
#include <new>

#include "nl_socket.hpp"
#include "owned_fds.hpp"

namespace cx::detail {

// The registry's access to a state's private parts.
struct netns_state_setup {
    // Creates the state for namespace `cookie`, socket `sock_fd` living in it: sysctls, the route
    // monitor and a first netlink socket, opened inside that namespace (entering it if the thread
    // stands elsewhere).
    static int create(uint64_t cookie, int sock_fd, netns_state*& out) {
        std::unique_ptr<netns_state> s(new (std::nothrow) netns_state(cookie));
        if (!s) return ENOMEM;
        netns_visit visit;
        if (int e = netns_enter_if_elsewhere(cookie, sock_fd, visit)) return e;
        if (int e = s->open_sysctls()) return e;
        s->routes().open_monitor();
        nl_socket first;
        if (int e = nl_open(NETLINK_SOCK_DIAG, first)) return e;
        s->pools().give_back(NETLINK_SOCK_DIAG, first);
        out = s.release();
        return 0;
    }
    static void forget_after_fork(netns_state& s) noexcept { s.forget_after_fork(); }
    static void replace_pool(netns_state& s, int protocol, nl_socket sock) noexcept {
        s.pools().drain(protocol);
        s.pools().give_back(protocol, sock);
    }
};

namespace {

struct registry {
    static constexpr int kSlots = 16;
    std::mutex mu;
    netns_state* slots[kSlots] = {};
    int refs[kSlots] = {};
    uint64_t last_use[kSlots] = {};
    uint64_t tick = 0;
    bool forked = false;  // set in a fork child: everything in the slots is the parent's
};
registry g_reg;

// fork() holds the registry's mutex across the fork, so a child sees a consistent registry and
// learns here, for free, that it is a child: no getpid() on every call.
// Lock order: the registry, then the fork gate (a state is created under the registry's mutex).
void atfork_prepare() {
    g_reg.mu.lock();
    owned_fds_fork_prepare();
}
void atfork_parent() {
    owned_fds_fork_parent();
    g_reg.mu.unlock();
}
void atfork_child() {
    // Every netlink socket and file of the parent's, those in other threads' hands included.
    owned_fds_fork_child();
    g_reg.forked = true;
    g_reg.mu.unlock();
}

// Drops everything a parent left: its netlink sockets must not be used here, and its mutexes may
// be held by threads that do not exist in this process, so the states are closed, not freed.
void reset_after_fork() {
    for (int i = 0; i < registry::kSlots; ++i) {
        if (g_reg.slots[i]) netns_state_setup::forget_after_fork(*g_reg.slots[i]);
        g_reg.slots[i] = nullptr;
        g_reg.refs[i] = 0;
    }
    g_reg.forked = false;
}

int slot_of(const netns_state* s) {
    for (int i = 0; i < registry::kSlots; ++i)
        if (g_reg.slots[i] == s) return i;
    return -1;
}

}  // namespace

netns_ref::~netns_ref() {
    if (!s_) return;
    if (owned_) {
        delete s_;
        return;
    }
    std::lock_guard lock(g_reg.mu);
    int i = slot_of(s_);
    if (i >= 0) --g_reg.refs[i];
}

namespace {

// The slot holding namespace `cookie`, else a free one and the least recently used one without
// references (-1: none). Caller holds g_reg.mu.
struct slot_search {
    int found = -1;
    int free = -1;
    int lru = -1;
};
slot_search search_slots(uint64_t cookie) {
    slot_search r;
    for (int i = 0; i < registry::kSlots; ++i) {
        netns_state* s = g_reg.slots[i];
        if (s && s->cookie() == cookie) {
            r.found = i;
            return r;
        }
        if (!s && r.free < 0) r.free = i;
        if (s && g_reg.refs[i] == 0 && (r.lru < 0 || g_reg.last_use[i] < g_reg.last_use[r.lru]))
            r.lru = i;
    }
    return r;
}

// A slot for a new state: a free one, else the least recently used one emptied. -1 when every
// slot is referenced. Caller holds g_reg.mu.
int make_room(const slot_search& r) {
    if (r.free >= 0 || r.lru < 0) return r.free;
    // A namespace not used for longest: closing its netlink sockets also stops them from keeping
    // that namespace alive.
    delete g_reg.slots[r.lru];
    g_reg.slots[r.lru] = nullptr;
    return r.lru;
}

void use_slot(int i) {
    ++g_reg.refs[i];
    g_reg.last_use[i] = g_reg.tick;
}

}  // namespace

void install_fork_handlers() noexcept {
    static std::once_flag once;
    std::call_once(once, [] { pthread_atfork(atfork_prepare, atfork_parent, atfork_child); });
}

int netns_for_socket(int fd, netns_ref& out) noexcept {
    uint64_t cookie = 0;
    const int e = netns_cookie_of(fd, cookie);
    return netns_for_cookie(fd, e, cookie, out);
}

int netns_for_cookie(int fd, int cookie_error, uint64_t cookie, netns_ref& out) noexcept {
    if (cookie_error) {
        if (cookie_error != ENOPROTOOPT) return cookie_error;
        cookie = 0;  // before 5.14: the caller's namespace, unverifiable
    }
    install_fork_handlers();

    std::unique_lock lock(g_reg.mu);
    if (g_reg.forked) reset_after_fork();
    ++g_reg.tick;
    const slot_search found = search_slots(cookie);
    if (found.found >= 0) {
        use_slot(found.found);
        out.s_ = g_reg.slots[found.found];
        return 0;
    }
    netns_state* s = nullptr;
    if (int e = netns_state_setup::create(cookie, fd, s)) return e;
    out.s_ = s;
    const int slot = make_room(found);
    if (slot < 0) {  // every slot busy: a state for this call only
        out.owned_ = true;
        return 0;
    }
    g_reg.slots[slot] = s;
    g_reg.refs[slot] = 0;
    use_slot(slot);
    return 0;
}

int netns_test_inject(int sock_fd, int protocol, int fd, uint32_t portid) noexcept {
    netns_ref ref;
    if (int e = netns_for_socket(sock_fd, ref)) {
        ::close(fd);
        return e;
    }
    (void)nl_apply_timeout(fd);  // as before: a test's socket without it still works
    if (int e = owned_fd_track(fd)) {
        ::close(fd);
        return e;
    }
    netns_state_setup::replace_pool(*ref, protocol, nl_socket{fd, portid, 0});
    return 0;
}

int netns_test_count() noexcept {
    std::lock_guard lock(g_reg.mu);
    if (g_reg.forked) return 0;
    int n = 0;
    for (netns_state* s : g_reg.slots) n += s != nullptr;
    return n;
}

}  // namespace cx::detail
