// real_calls.cpp - resolve the wrapped libc functions once with dlsym(RTLD_NEXT).
#include "real_calls.hpp"

#include <dlfcn.h>

#include <atomic>

namespace cxp {
namespace {

template <class F>
void resolve(F& slot, const char* name) noexcept {
    slot = reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

real_calls g_real;
std::atomic<bool> g_resolved{false};

void resolve_all() noexcept {
    real_calls r{};
    resolve(r.socket, "socket");
    resolve(r.socketpair, "socketpair");
    resolve(r.bind, "bind");
    resolve(r.connect, "connect");
    resolve(r.setsockopt, "setsockopt");
    resolve(r.getsockname, "getsockname");
    resolve(r.sendto, "sendto");
    resolve(r.sendmsg, "sendmsg");
    resolve(r.sendmmsg, "sendmmsg");
    resolve(r.recvmsg, "recvmsg");
    resolve(r.accept, "accept");
    resolve(r.accept4, "accept4");
    resolve(r.close, "close");
    resolve(r.close_range, "close_range");
    resolve(r.dup, "dup");
    resolve(r.dup2, "dup2");
    resolve(r.dup3, "dup3");
    resolve(r.fcntl, "fcntl");
    resolve(r.fcntl64, "fcntl64");
    if (!r.fcntl64) r.fcntl64 = r.fcntl;
    resolve(r.syscall, "syscall");
    // Two threads racing here both store the same values: dlsym answers the same each time.
    g_real = r;
    g_resolved.store(true, std::memory_order_release);
}

// Before main: the table is complete before any wrapper can run in a signal handler.
[[gnu::constructor(101)]] void resolve_at_load() {
    resolve_all();
}

}  // namespace

const real_calls& real() noexcept {
    if (!g_resolved.load(std::memory_order_acquire)) resolve_all();
    return g_real;
}

int real_getsockopt_int(int fd, int level, int name, int& value) noexcept {
    socklen_t len = sizeof value;
    return getsockopt(fd, level, name, &value, &len);
}

int real_setsockopt_int(int fd, int level, int name, int value) noexcept {
    return real().setsockopt(fd, level, name, &value, sizeof value);
}

}  // namespace cxp
