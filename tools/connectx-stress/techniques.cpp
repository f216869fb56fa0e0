// techniques.cpp - one connection per call, by each technique of the comparison. The plain-kernel
// rows are written out with bare system calls on purpose: they are what programs do today.
#include "techniques.hpp"

#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

namespace cxstress {
namespace {

constexpr technique_info kTechniques[kTechniqueCount] = {
    {technique_id::tcp_connect, proto::tcp, "tcp-connect", "connect(dst)"},
    {technique_id::tcp_bind, proto::tcp, "tcp-bind", "bind(src, 0) + connect(dst)"},
    {technique_id::tcp_no_port, proto::tcp, "tcp-no-port",
     "IP_BIND_ADDRESS_NO_PORT + bind(src, 0) + connect(dst)"},
    {technique_id::tcp_reuseaddr, proto::tcp, "tcp-reuseaddr",
     "SO_REUSEADDR + bind(src, port) + connect(dst)"},
    {technique_id::tcp_connectx, proto::tcp, "tcp-connectx", "connectx(src, dst)"},
    {technique_id::udp_connect, proto::udp, "udp-connect", "connect(dst)"},
    {technique_id::udp_reuseaddr, proto::udp, "udp-reuseaddr", "SO_REUSEADDR + connect(dst)"},
    {technique_id::udp_connectx, proto::udp, "udp-connectx", "connectx(src, dst)"},
    {technique_id::udp_connectx_guard, proto::udp, "udp-connectx-guard",
     "connectx(src, dst) under the BPF guard"},
    {technique_id::udp_dropin, proto::udp, "udp-dropin",
     "connect(dst), unmodified, through the drop-in (libconnectx-preload.so)"},
};

// info() indexes the table by id.
constexpr bool table_in_id_order() {
    for (int i = 0; i < kTechniqueCount; ++i)
        if (int(kTechniques[i].id) != i) return false;
    return true;
}
static_assert(table_in_id_order());

// A blocking TCP connect() on loopback completes at once unless the listener's accept queue is
// full, when the SYN is dropped and retried for minutes. Bound that wait: connect() then fails
// with EINPROGRESS, which the report shows as the failure.
constexpr int kConnectTimeoutS = 2;

// Closes the socket unless released: every failed step leaves nothing open.
class socket_holder {
public:
    explicit socket_holder(int fd) noexcept : fd_(fd) {}
    socket_holder(const socket_holder&) = delete;
    socket_holder& operator=(const socket_holder&) = delete;
    ~socket_holder() {
        if (fd_ >= 0) ::close(fd_);
    }
    int get() const noexcept { return fd_; }
    int release() noexcept {
        int fd = fd_;
        fd_ = -1;
        return fd;
    }

private:
    int fd_;
};

int set_int(int fd, int level, int name, int value) {
    return ::setsockopt(fd, level, name, &value, sizeof value) < 0 ? errno : 0;
}

int bind_to(int fd, cx::address a, uint16_t port) {
    a.set_port(port);
    return ::bind(fd, a.sa(), a.size()) < 0 ? errno : 0;
}

int connect_to(int fd, const cx::address& dst) {
    return ::connect(fd, dst.sa(), dst.size()) < 0 ? errno : 0;
}

// From the one source, or with --sources N from the pool: the library picks each source.
int connectx_to(int fd, const endpoints& ep, const cx::address& dst) {
    cx::options o;
    o.pool = ep.pool;
    auto r =
        ep.pool.empty() ? cx::connect(fd, ep.source, dst) : cx::connect(fd, std::nullopt, dst, o);
    return r ? 0 : r.error().value();
}

// The drop-in's connect(), the one an unmodified program calls under connectx-exec. Opened here
// rather than preloaded, so the other rows keep the plain C library; its wrapper takes a socket
// it did not see created as a program's inherited one (it asks the kernel what it is).
// $CONNECTX_PRELOAD_LIB, else the build tree's.
int dropin_connect(int fd, const cx::address& dst) {
    using connect_fn = int (*)(int, const sockaddr*, socklen_t);
    static const connect_fn fn = []() -> connect_fn {
        const char* env = std::getenv("CONNECTX_PRELOAD_LIB");
        void* lib = dlopen(env && *env ? env : CONNECTX_PRELOAD_LIB, RTLD_NOW | RTLD_LOCAL);
        return lib ? reinterpret_cast<connect_fn>(dlsym(lib, "connect")) : nullptr;
    }();
    if (!fn) return ENOENT;
    return fn(fd, dst.sa(), dst.size()) < 0 ? errno : 0;
}

int run_steps(technique_id t, int fd, const endpoints& ep, uint64_t k) {
    const endpoints::placement at = ep.place(k);
    const cx::address& dst = ep.destinations[at.index];
    switch (t) {
        case technique_id::tcp_connect:
        case technique_id::udp_connect:
            return connect_to(fd, dst);
        case technique_id::tcp_bind:
            if (int e = bind_to(fd, ep.source, 0)) return e;
            return connect_to(fd, dst);
        case technique_id::tcp_no_port:
            if (int e = set_int(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)) return e;
            if (int e = bind_to(fd, ep.source, 0)) return e;
            return connect_to(fd, dst);
        case technique_id::tcp_reuseaddr: {
            // The caller picks the port: the whole range toward each destination in turn,
            // then around again, where the 4-tuple is already taken.
            uint64_t range = uint64_t(ep.port_hi) - ep.port_lo + 1;
            auto port = uint16_t(ep.port_lo + at.nth % range);
            if (int e = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1)) return e;
            if (int e = bind_to(fd, ep.source, port)) return e;
            return connect_to(fd, dst);
        }
        case technique_id::udp_reuseaddr:
            if (int e = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1)) return e;
            return connect_to(fd, dst);
        case technique_id::tcp_connectx:
        case technique_id::udp_connectx:
        case technique_id::udp_connectx_guard:
            return connectx_to(fd, ep, dst);
        case technique_id::udp_dropin:
            return dropin_connect(fd, dst);
    }
    return EINVAL;
}

}  // namespace

std::span<const technique_info> all_techniques() noexcept {
    return kTechniques;
}

const technique_info& info(technique_id id) noexcept {
    return kTechniques[int(id)];
}

const technique_info* find_technique(std::string_view name) noexcept {
    for (const auto& t : kTechniques)
        if (name == t.name) return &t;
    return nullptr;
}

const char* to_string(stop_reason r) noexcept {
    switch (r) {
        case stop_reason::failure:
            return "failure";
        case stop_reason::limit:
            return "limit";
        case stop_reason::timeout:
            return "timeout";
        case stop_reason::setup_failed:
            return "setup-failed";
        case stop_reason::not_built:
            return "not-built";
        case stop_reason::crashed:
            return "crashed";
    }
    return "unknown";
}

int open_connection(technique_id t, const endpoints& ep, uint64_t k, int& fd) noexcept {
    int type = info(t).protocol == proto::tcp ? SOCK_STREAM : SOCK_DGRAM;
    socket_holder s(::socket(ep.source.family(), type | SOCK_CLOEXEC, 0));
    if (s.get() < 0) return errno;
    if (type == SOCK_STREAM) {
        timeval tv{kConnectTimeoutS, 0};
        if (::setsockopt(s.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0) return errno;
    }
    if (int e = run_steps(t, s.get(), ep, k)) return e;
    fd = s.release();
    return 0;
}

}  // namespace cxstress
