// call_env.cpp - the private namespace, guarded memory and fd counting of connectx_call_fuzz.
#include "call_env.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <net/if.h>
#include <sanitizer/asan_interface.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tools/common/kernel_file.hpp"
#include "tools/common/rtnl.hpp"

namespace cxfuzz {
namespace {

[[noreturn]] void die(const char* step, int e) {
    std::fprintf(stderr, "connectx_call_fuzz: %s: %s\n", step, std::strerror(e));
    std::exit(1);
}

void need(const char* step, int e) {
    if (e) die(step, e);
}

int add_address(unsigned ifindex, const char* ip, int prefix_len) {
    unsigned char addr[16];
    int family = std::strchr(ip, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(family, ip, addr) != 1) return EINVAL;
    return cxcommon::add_address(ifindex, family, addr, prefix_len);
}

// A second link, up, with a link-local address: a device other than lo to bind to and scope to.
int add_second_link() {
    const char* name = "cxfz0";
    if (cxcommon::add_link(name, "dummy", nullptr) != 0) {
        need("create a dummy or veth link", cxcommon::add_link(name, "veth", "cxfz0peer"));
        need("bring the veth peer up", cxcommon::link_up(if_nametoindex("cxfz0peer")));
    }
    unsigned idx = if_nametoindex(name);
    if (!idx) die("find the second link", errno);
    need("bring the second link up", cxcommon::link_up(idx));
    need("add fe80::1/64", add_address(idx, "fe80::1", 64));
    return int(idx);
}

}  // namespace

int enter_private_netns() {
    if (::unshare(CLONE_NEWNET) != 0)
        die("unshare(CLONE_NEWNET) (the target runs only in a private network namespace, which "
            "needs root or CAP_SYS_ADMIN)",
            errno);
    unsigned lo = if_nametoindex("lo");
    if (!lo) die("find lo", errno);
    need("bring lo up", cxcommon::link_up(lo));
    need("add 2001:db8::1/64 to lo", add_address(lo, "2001:db8::1", 64));
    int second = add_second_link();
    // /proc/sys/net shows the namespace of the process that opens it: this one's, now.
    need("set ip_local_port_range",
         cxcommon::write_file("/proc/sys/net/ipv4/ip_local_port_range",
                              std::to_string(kRangeLo) + " " + std::to_string(kRangeHi)));
    need("set ip_local_reserved_ports",
         cxcommon::write_file("/proc/sys/net/ipv4/ip_local_reserved_ports",
                              std::to_string(kReservedPort)));
    return second;
}

fd_bits open_fd_set() {
    DIR* d = ::opendir("/proc/self/fd");
    if (!d) die("open /proc/self/fd", errno);
    fd_bits set;
    while (dirent* e = ::readdir(d)) {
        int fd = std::atoi(e->d_name);
        if (e->d_name[0] != '.' && fd != ::dirfd(d) && size_t(fd) < set.size()) set.set(size_t(fd));
    }
    ::closedir(d);
    return set;
}

void print_open_fds() {
    DIR* d = ::opendir("/proc/self/fd");
    if (!d) return;
    while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        std::string path = std::string("/proc/self/fd/") + e->d_name;
        char target[256] = {};
        ssize_t n = ::readlink(path.c_str(), target, sizeof target - 1);
        std::fprintf(stderr, "  fd %s -> %s\n", e->d_name, n > 0 ? target : "?");
    }
    ::closedir(d);
}

guarded_page::guarded_page() {
    void* p =
        ::mmap(nullptr, 2 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) die("mmap", errno);
    base_ = static_cast<uint8_t*>(p);
    if (::mprotect(base_ + kPage, kPage, PROT_NONE) != 0) die("mprotect", errno);
}

uint8_t* guarded_page::place(size_t len) {
    if (len > kPage) std::abort();
    const size_t off = (kPage - len) & ~size_t(7);
    ASAN_UNPOISON_MEMORY_REGION(base_, kPage);
    std::memset(base_ + off, 0, len);
    ASAN_POISON_MEMORY_REGION(base_, off);
    ASAN_POISON_MEMORY_REGION(base_ + off + len, kPage - off - len);
    return base_ + off;
}

}  // namespace cxfuzz
