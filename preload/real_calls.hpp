// real_calls.hpp - the libc functions the drop-in wraps, as the next definition in the lookup
// order (dlsym(RTLD_NEXT)) finds them: libc, or a sanitizer runtime loaded after us. Resolved
// all at once in the library's constructor, before main and before any thread the program
// starts, so a wrapper called from a signal handler never reaches dlsym; a wrapper called earlier
// (another preloaded library's constructor) resolves them first, the same way, idempotently.
#pragma once

#include <sys/socket.h>

namespace cxp {

struct real_calls {
    int (*socket)(int, int, int);
    int (*socketpair)(int, int, int, int*);
    int (*bind)(int, const sockaddr*, socklen_t);
    int (*connect)(int, const sockaddr*, socklen_t);
    int (*setsockopt)(int, int, int, const void*, socklen_t);
    int (*getsockname)(int, sockaddr*, socklen_t*);
    ssize_t (*sendto)(int, const void*, size_t, int, const sockaddr*, socklen_t);
    ssize_t (*sendmsg)(int, const msghdr*, int);
    int (*sendmmsg)(int, mmsghdr*, unsigned, int);
    ssize_t (*recvmsg)(int, msghdr*, int);
    int (*accept)(int, sockaddr*, socklen_t*);
    int (*accept4)(int, sockaddr*, socklen_t*, int);
    int (*close)(int);
    int (*close_range)(unsigned, unsigned, int);
    int (*dup)(int);
    int (*dup2)(int, int);
    int (*dup3)(int, int, int);
    int (*fcntl)(int, int, ...);
    int (*fcntl64)(int, int, ...);
    long (*syscall)(long, ...);
};

// The resolved table. A function libc lacks (close_range before glibc 2.34) is null: its wrapper
// then fails with ENOSYS, as the missing function would have at link time.
const real_calls& real() noexcept;

// getsockopt/setsockopt of an int through the real functions (errno preserved on success).
int real_getsockopt_int(int fd, int level, int name, int& value) noexcept;
int real_setsockopt_int(int fd, int level, int name, int value) noexcept;

}  // namespace cxp
