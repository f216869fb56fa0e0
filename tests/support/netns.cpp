// netns.cpp - private network namespaces for tests: fork, unshare(CLONE_NEWNET), set up, run.
#include "netns.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "rtnl.hpp"

namespace cxtest {
namespace {

bool write_file(const char* path, const std::string& value) {
    int fd = ::open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return false;
    bool ok = ::write(fd, value.data(), value.size()) == ssize_t(value.size());
    ::close(fd);
    return ok;
}

// Enter a new network namespace: directly as root, else inside a new user namespace where we
// map ourselves to root. Returns 0 or an errno.
int enter_netns() {
    if (unshare(CLONE_NEWNET) == 0) return 0;
    if (errno != EPERM) return errno;
    uid_t uid = geteuid();
    gid_t gid = getegid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0) return errno;
    write_file("/proc/self/setgroups", "deny");
    if (!write_file("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1") ||
        !write_file("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1"))
        return EPERM;
    return 0;
}

// True once a UDP datagram from `from` arrives at `to` (both local), polling for up to 5 s.
bool wait_deliverable(cx::address from, cx::address to) {
    for (int tries = 0; tries < 2500; ++tries) {
        int rx = ::socket(to.family(), SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        int tx = ::socket(from.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_storage ss;
        socklen_t len = sizeof ss;
        bool ok = ::bind(rx, to.sa(), to.size()) == 0 &&
                  ::getsockname(rx, reinterpret_cast<sockaddr*>(&ss), &len) == 0 &&
                  ::bind(tx, from.sa(), from.size()) == 0 &&
                  ::sendto(tx, "x", 1, 0, reinterpret_cast<sockaddr*>(&ss), len) == 1;
        char c;
        for (int spin = 0; ok && spin < 5; ++spin) {
            if (::recv(rx, &c, 1, 0) == 1) {
                ::close(rx);
                ::close(tx);
                return true;
            }
            usleep(200);
        }
        ::close(rx);
        ::close(tx);
        usleep(2000);
    }
    return false;
}

void set_up(const netns_options& opt) {
    ASSERT_EQ(link_up("lo"), 0) << "bring lo up";
    ASSERT_EQ(write_sysctl("net/ipv4/ip_local_port_range",
                           std::to_string(opt.port_lo) + " " + std::to_string(opt.port_hi)),
              0);
    ASSERT_EQ(write_sysctl("net/ipv4/ip_local_reserved_ports", opt.reserved_ports), 0);
    ASSERT_EQ(add_address("lo", kSrcV6, 64), 0);
    for (int i = 0; i < opt.destinations; ++i) {
        std::string ip6 = "2001:db8::1:" + std::to_string(i + 1);
        ASSERT_EQ(add_address("lo", ip6.c_str(), 128), 0) << ip6;
    }
    // IPv6 addresses become usable asynchronously (the kernel installs their local routes from
    // a work queue, even without duplicate address detection): wait until a datagram from the
    // source address reaches each destination address.
    for (int i = 0; i < opt.destinations; ++i) {
        ASSERT_TRUE(wait_deliverable(v4(kSrcV6), dst_v6(i, 0)))
            << "2001:db8::1 cannot reach " << dst_v6(i, 0).to_string() << " after 5 s";
    }
    if (opt.dummy) {
        // A dummy link where the kernel has the driver, else one end of a veth pair (whose
        // other end must be up too for the link to have carrier).
        int e = add_dummy("dummy0");
        if (e == EOPNOTSUPP) {
            ASSERT_EQ(add_veth_pair("dummy0", "dummy0peer"), 0) << "create veth pair";
            ASSERT_EQ(link_up("dummy0peer"), 0);
        } else {
            ASSERT_EQ(e, 0) << "create dummy0";
        }
        ASSERT_EQ(link_up("dummy0"), 0);
        ASSERT_EQ(add_address("dummy0", "fe80::1", 64), 0);
        ASSERT_EQ(add_address("dummy0", "fe80::2", 64), 0);
        ASSERT_TRUE(wait_deliverable(v4("fe80::1%dummy0"), v4("fe80::2%dummy0")))
            << "fe80::1 cannot reach fe80::2 on dummy0 after 5 s";
    }
}

// Waits for `pid` up to timeout_s; kills it after. Returns true when it exited 0.
bool wait_child(pid_t pid, int timeout_s, std::string& what) {
    int status = 0;
    for (int ms = 0;; ms += 10) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) break;
        if (r < 0) {
            what = std::string("waitpid: ") + strerror(errno);
            return false;
        }
        if (ms >= timeout_s * 1000) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            what = "timed out after " + std::to_string(timeout_s) + " s";
            return false;
        }
        usleep(10000);
    }
    if (WIFEXITED(status)) {
        if (WEXITSTATUS(status) == 0) return true;
        what = "exited with " + std::to_string(WEXITSTATUS(status)) + " (failures above)";
        return false;
    }
    what = std::string("killed by signal ") + strsignal(WTERMSIG(status));
    return false;
}

pid_t fork_child(const std::function<void()>& body) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        body();
        fflush(stdout);
        _exit(::testing::Test::HasFailure() ? 1 : 0);
    }
    return pid;
}

}  // namespace

cx::address v4(const char* text) {
    auto a = cx::address::parse(text);
    if (!a) {
        ADD_FAILURE() << "bad address in test: " << text;
        return {};
    }
    return *a;
}

cx::address dst_v4(int i, uint16_t port) {
    return cx::address::v4((127u << 24) | (1u << 8) | uint32_t(i + 1), port);
}

cx::address dst_v6(int i, uint16_t port) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "[2001:db8::1:%x]:%u", i + 1, port);
    return v4(buf);
}

std::string netns_unavailable_reason() {
    static std::string reason = [] {
        pid_t pid = fork();
        if (pid == 0) _exit(enter_netns() == 0 ? 0 : 1);
        int status = 0;
        waitpid(pid, &status, 0);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return std::string();
        return std::string("cannot create a network namespace (needs root, or unprivileged "
                           "user namespaces)");
    }();
    return reason;
}

void run_in_netns(const netns_options& opt, const std::function<void()>& body, int timeout_s) {
    pid_t pid = fork_child([&] {
        int e = enter_netns();
        if (e != 0) {
            ADD_FAILURE() << "unshare(CLONE_NEWNET): " << strerror(e);
            return;
        }
        set_up(opt);
        if (::testing::Test::HasFatalFailure()) return;
        body();
    });
    ASSERT_GT(pid, 0) << "fork: " << strerror(errno);
    std::string what;
    EXPECT_TRUE(wait_child(pid, timeout_s, what)) << "namespace child " << what;
}

int run_in_children(int n, const std::function<void(int)>& body, int timeout_s) {
    std::vector<pid_t> pids;
    for (int i = 0; i < n; ++i) {
        pid_t pid = fork_child([&] { body(i); });
        if (pid < 0) return n;
        pids.push_back(pid);
    }
    int failed = 0;
    for (pid_t pid : pids) {
        std::string what;
        if (!wait_child(pid, timeout_s, what)) {
            ++failed;
            ADD_FAILURE() << "child " << pid << " " << what;
        }
    }
    return failed;
}

int write_sysctl(const char* rel, const std::string& value) {
    std::string path = std::string("/proc/sys/") + rel;
    return write_file(path.c_str(), value.empty() ? "\n" : value) ? 0 : errno;
}

std::string read_sysctl(const char* rel) {
    std::string path = std::string("/proc/sys/") + rel;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return {};
    char buf[4096];
    ssize_t n = ::read(fd, buf, sizeof buf);
    ::close(fd);
    return n > 0 ? std::string(buf, size_t(n)) : std::string();
}

int socket_for(const cx::address& like, int type) {
    int fd = ::socket(like.family(), type | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd, 0) << "socket: " << strerror(errno);
    return fd;
}

int tcp_listener(const cx::address& at, int backlog) {
    int fd = socket_for(at, SOCK_STREAM);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, at.sa(), at.size()) < 0 || ::listen(fd, backlog) < 0) {
        ADD_FAILURE() << "listen on " << at.to_string() << ": " << strerror(errno);
        ::close(fd);
        return -1;
    }
    return fd;
}

int udp_bound(const cx::address& at, bool reuseaddr) {
    int fd = socket_for(at, SOCK_DGRAM);
    int one = 1;
    if (reuseaddr) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, at.sa(), at.size()) < 0) {
        ADD_FAILURE() << "bind UDP " << at.to_string() << ": " << strerror(errno);
        ::close(fd);
        return -1;
    }
    return fd;
}

int open_fd_count() {
    DIR* d = opendir("/proc/self/fd");
    if (!d) return -1;
    int n = 0;
    while (dirent* e = readdir(d)) {
        if (e->d_name[0] == '.') continue;
        // The library's per-thread io_uring (src/sock_ops.hpp), made by a thread's first call
        // and kept while the thread lives, is not a leak (sock_ops_test counts those).
        char path[300], target[64];
        std::snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t len = readlink(path, target, sizeof target - 1);
        if (len > 0) {
            target[len] = '\0';
            if (std::strcmp(target, "anon_inode:[io_uring]") == 0) continue;
        }
        ++n;
    }
    closedir(d);
    return n - 1;  // the directory's own fd
}

}  // namespace cxtest
