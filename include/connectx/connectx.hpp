// connectx.hpp - the C++ API of connectx (namespace cx): a value-or-error result, a numeric address type and
// connect(). No exception crosses the library boundary: every library entry point is noexcept.
#ifndef CONNECTX_CONNECTX_HPP
#define CONNECTX_CONNECTX_HPP

#include <netinet/in.h>
#include <sys/socket.h>

#include <connectx/connectx.h>

#include <cstdint>
#include <cstring>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

namespace cx {

// std::expected look-alike (std::expected is C++23): either a T or a std::error_code.
template <class T>
class result {
public:
    result(const T& v) : ok_(true), v_(v) {}
    result(T&& v) : ok_(true), v_(std::move(v)) {}
    result(std::error_code e) : ok_(false), e_(e) {}
    result(const result& o) : ok_(o.ok_) {
        if (ok_) new (&v_) T(o.v_);
        else new (&e_) std::error_code(o.e_);
    }
    result(result&& o) noexcept(std::is_nothrow_move_constructible_v<T>) : ok_(o.ok_) {
        if (ok_) new (&v_) T(std::move(o.v_));
        else new (&e_) std::error_code(o.e_);
    }
    result& operator=(result o) {
        this->~result();
        new (this) result(std::move(o));
        return *this;
    }
    ~result() {
        if (ok_) v_.~T();
    }

    bool has_value() const noexcept { return ok_; }
    explicit operator bool() const noexcept { return ok_; }
    T& value() & { return v_; }
    const T& value() const& { return v_; }
    T&& value() && { return std::move(v_); }
    T& operator*() & { return v_; }
    const T& operator*() const& { return v_; }
    T* operator->() { return &v_; }
    const T* operator->() const { return &v_; }
    std::error_code error() const noexcept { return ok_ ? std::error_code{} : e_; }

private:
    bool ok_;
    union {
        T v_;
        std::error_code e_;
    };
};

template <>
class result<void> {
public:
    result() = default;
    result(std::error_code e) : e_(e) {}
    bool has_value() const noexcept { return !e_; }
    explicit operator bool() const noexcept { return !e_; }
    std::error_code error() const noexcept { return e_; }

private:
    std::error_code e_;
};

inline std::error_code errno_code(int e) noexcept { return {e, std::system_category()}; }

// An IPv4 or IPv6 socket address held by value. Ports are given and returned in host order; the
// sockaddr it exposes holds them in network order, as the kernel wants. Only numeric forms are
// parsed and printed: "1.2.3.4", "1.2.3.4:80", "::1", "[::1]:80", "[fe80::1%eth0]:53",
// "fe80::1%2". Names are never resolved.
class CONNECTX_API address {
public:
    address() noexcept { std::memset(&ss_, 0, sizeof ss_); }

    // Parse a numeric address. `default_port` applies when the text carries no port.
    // Errors: EINVAL (not a numeric address, bad port, unknown interface in a scope).
    static result<address> parse(std::string_view text, uint16_t default_port = 0) noexcept;
    // Copy a sockaddr. Errors: EAFNOSUPPORT (not AF_INET/AF_INET6), EINVAL (too short).
    static result<address> from_sockaddr(const sockaddr* sa, socklen_t len) noexcept;
    static address v4(uint32_t host_order_ip, uint16_t port) noexcept;

    int family() const noexcept { return ss_.ss_family; }
    uint16_t port() const noexcept;
    void set_port(uint16_t port) noexcept;
    uint32_t scope_id() const noexcept;  // IPv6 scope (interface index); 0 for IPv4
    // Address classes. An IPv4-mapped address (::ffff:a.b.c.d) is in the class of a.b.c.d.
    bool is_wildcard() const noexcept;   // 0.0.0.0, :: or ::ffff:0.0.0.0
    bool is_multicast() const noexcept;  // 224.0.0.0/4 or ff00::/8
    bool is_broadcast() const noexcept;  // 255.255.255.255
    bool is_v4_mapped() const noexcept;  // ::ffff:a.b.c.d
    bool is_link_local() const noexcept; // fe80::/10 (IPv6 only)
    // An IPv6 address that names a link only together with an interface: link-local unicast
    // (fe80::/10) and interface- or link-local multicast (ff01::/16, ff02::/16 and their flags).
    bool needs_scope() const noexcept;

    const sockaddr* sa() const noexcept { return reinterpret_cast<const sockaddr*>(&ss_); }
    sockaddr* sa() noexcept { return reinterpret_cast<sockaddr*>(&ss_); }
    socklen_t size() const noexcept;

    // "1.2.3.4:80", "[::1]:80", "[fe80::1%eth0]:53" (interface name when it exists, else the
    // index). With `with_port` false, the bare IP ("fe80::1%eth0"). Returns the length written
    // (always NUL-terminated, truncated to `cap`).
    size_t format(char* buf, size_t cap, bool with_port = true) const noexcept;
    std::string to_string(bool with_port = true) const {
        char buf[INET6_ADDRSTRLEN + kIfNameSize + 16];
        format(buf, sizeof buf, with_port);
        return buf;
    }
    std::string ip_string() const { return to_string(false); }

    friend CONNECTX_API bool operator==(const address& a, const address& b) noexcept;
    friend bool operator!=(const address& a, const address& b) noexcept { return !(a == b); }

private:
    static constexpr int kIfNameSize = 16;  // IF_NAMESIZE, without <net/if.h>
    sockaddr_storage ss_;
};

enum class technique : uint32_t {
    none = CONNECTX_TECH_NONE,
    connect = CONNECTX_TECH_CONNECT,
    bind_no_port = CONNECTX_TECH_BIND_NO_PORT,
    reuseaddr = CONNECTX_TECH_REUSEADDR,
    local_port_range = CONNECTX_TECH_LOCAL_PORT_RANGE,
    explicit_ports = CONNECTX_TECH_EXPLICIT_PORTS,
    udp_lock = CONNECTX_TECH_UDP_LOCK,
    udp_alone = CONNECTX_TECH_UDP_ALONE,
};

inline std::string_view to_string(technique t) noexcept {
    return connectx_technique_name(static_cast<uint32_t>(t));
}

struct port_range {
    uint16_t lo = 0;  // inclusive, host order
    uint16_t hi = 0;  // inclusive, host order
};

// A network prefix: "10.0.0.0/29", "2001:db8::/120". Host bits must be zero.
struct prefix {
    address network;
    uint8_t length = 0;
    // Errors: EINVAL (not "IP/LEN", LEN out of 0..32 or 0..128, host bits set).
    static CONNECTX_API result<prefix> parse(std::string_view text) noexcept;
};

struct options {
    std::optional<port_range> ports;  // source ports to pick from when src has port 0
    int ifindex = 0;                  // interface to bind to (SO_BINDTODEVICE); 0 = none
    uint32_t flags = 0;               // CONNECTX_F_*
    // A source pool (connectx(3), "Source pools"): these addresses, then the prefix's. With a
    // pool, src must be nullopt.
    std::vector<address> pool;
    std::optional<prefix> pool_prefix;
};

struct connection {
    address local;
    address remote;
    cx::technique technique = technique::none;
    uint32_t lookups = 0;   // SOCK_DIAG conflict lookups (UDP)
    uint32_t attempts = 0;  // source ports tried
};

// connectx(3) for C++: connect `fd` to `dst` from `src` (nullopt = any address, any port).
// On error the code is an errno value in std::system_category(), exactly as connectx(3) sets.
// A non-blocking TCP socket yields EINPROGRESS with the connection under way.
CONNECTX_API result<connection> connect(int fd, const std::optional<address>& src, const address& dst,
                           const options& opts = {}) noexcept;

// connectx_budget(3) for C++: usable, used and free ports from `src` toward `dst`.
struct port_budget {
    uint32_t usable = 0;
    uint32_t used = 0;
    uint32_t free = 0;
    port_range range;  // ip_local_port_range
};
CONNECTX_API result<port_budget> budget(int protocol, const address& src,
                                        const address& dst) noexcept;

// One (source IP, destination) pair of a census: the budget of that pair, as budget() counts it.
struct port_occupancy {
    int protocol = 0;  // IPPROTO_TCP or IPPROTO_UDP
    address source;    // port 0
    address destination;
    uint32_t used = 0;
    uint32_t usable = 0;
    uint32_t free = 0;
};
// A census of one protocol in the calling thread's namespace: its usable ports, and every pair
// whose connected sockets hold at least one usable port (used > 0: the accepted side of a
// connection, whose port is its listener's, is not listed), IPv4 and IPv6, most used first (ties by source, then
// destination). One SOCK_DIAG dump per family. Errors as connectx_budget(3), and ENOMEM.
struct port_census_report {
    port_range range;     // ip_local_port_range
    uint32_t usable = 0;  // its ports that ip_local_reserved_ports leaves
    std::vector<port_occupancy> pairs;
};
CONNECTX_API result<port_census_report> port_census(int protocol) noexcept;

// connectx_counters_read(3) for C++.
CONNECTX_API connectx_counters counters() noexcept;

// connectx_source(3) for C++: the source address connectx() would give `fd` toward `dst` when
// none is named (port 0). Errors as connectx_source(3) sets them.
CONNECTX_API result<address> source_for(int fd, const address& dst) noexcept;

}  // namespace cx

#endif  // CONNECTX_CONNECTX_HPP
