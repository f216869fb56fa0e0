// connector.cpp - connectx() per candidate address, the handshake wait, and the
// mapping of errno to curl's exit codes with messages that say which 4-tuple was in the way.
#include "connector.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "exit_codes.hpp"
#include "resolve.hpp"
#include "socket_table.hpp"

namespace cxcli {
namespace {

struct attempt_result {
    int err = 0;  // 0 = connected
    bool timed_out = false;
    connection conn;  // fd kept on success; local/technique filled as far as known
};

cx::address wildcard(int family) {
    return *cx::address::parse(family == AF_INET ? "0.0.0.0" : "::");
}

// The source address handed to connectx(), or nullopt for "any address, any port".
// A port pinned without an address goes with the wildcard: the library checks the address the
// route picks.
std::optional<cx::address> source_for(const source_spec& s, const cx::address& dst) {
    if (!s.ip && !s.port) return std::nullopt;
    cx::address a = s.ip ? *s.ip : wildcard(dst.family());
    a.set_port(s.port);
    return a;
}

cx::address local_of(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
    auto a = cx::address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
    return a ? *a : cx::address{};
}

// `prefix` holds the pool's prefix for as long as the options are used.
connectx_opts opts_for(const connect_request& req, connectx_result& res, uint32_t flags,
                       sockaddr_storage& prefix) {
    connectx_opts opts{};
    opts.size = sizeof opts;
    opts.flags = flags;
    opts.ifindex = req.source.ifindex;
    if (req.source.pool) {
        prefix = {};
        std::memcpy(&prefix, req.source.pool->network.sa(), req.source.pool->network.size());
        opts.pool_prefix = &prefix;
        opts.pool_prefix_len = req.source.pool->length;
    }
    if (req.source.range) {
        opts.port_lo = req.source.range->lo;
        opts.port_hi = req.source.range->hi;
    }
    opts.result = &res;
    return opts;
}

// One connectx() call on `fd` from the source the request pins, and for TCP the wait for the
// handshake.
attempt_result attempt(int fd, const connect_request& req, const cx::address& dst,
                       uint32_t flags = 0) {
    attempt_result r;
    r.conn.remote = dst;
    connectx_result res{};
    sockaddr_storage prefix;
    connectx_opts opts = opts_for(req, res, flags, prefix);
    auto src = source_for(req.source, dst);
    int rc =
        connectx(fd, src ? src->sa() : nullptr, src ? src->size() : 0, dst.sa(), dst.size(), &opts);
    int err = rc == 0 ? 0 : errno;
    r.conn.technique = res.technique;
    r.conn.attempts = res.attempts;
    r.conn.lookups = res.lookups;
    r.conn.local = local_of(fd);  // after a failed TCP connect, the port it was bound to

    if (err == EINPROGRESS) {
        int ev = wait_fd(fd, POLLOUT, req.until);
        if (ev == 0) {
            r.timed_out = true;
            return r;
        }
        if (ev < 0) {
            r.err = -ev;
            return r;
        }
        socklen_t len = sizeof err;
        if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
        r.conn.local = local_of(fd);
    }
    r.err = err;
    return r;
}

std::string ms_since(clock::time_point t0) {
    return std::to_string(
        std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t0).count());
}

// The source IP an attempt on `fd` uses: the pinned one, else the routing table's answer (the
// library asks rtnetlink, cx::source_for). A failed attempt may leave `fd` bound, which the
// library refuses to be asked about; then ask for a fresh socket of the same kind on the same
// interface, which is never bound nor connected, so it takes no port.
cx::address source_ip_for(int fd, const connect_request& req, const cx::address& dst) {
    if (req.source.ip) return *req.source.ip;
    if (auto ip = cx::source_for(fd, dst)) return *ip;
    unique_fd fresh(::socket(dst.family(), req.socktype | SOCK_CLOEXEC, 0));
    int ifindex = req.source.ifindex;
    if (fresh && (!ifindex || ::setsockopt(fresh.get(), SOL_SOCKET, SO_BINDTOIFINDEX, &ifindex,
                                           sizeof ifindex) == 0)) {
        if (auto ip = cx::source_for(fresh.get(), dst)) return *ip;
    }
    return wildcard(dst.family());
}

// A TCP port range found full may still have ports whose 4-tuple toward dst sits in TIME_WAIT:
// connect() autobind (IP_LOCAL_PORT_RANGE) never reuses a port an explicit bind() created (every
// --local-port connection before), and the library's explicit ports skip a 4-tuple that exists;
// but bind with SO_REUSEADDR and connect() take a TIME_WAIT 4-tuple over when it carried
// timestamps. So try those ports as
// fixed ports, each on a fresh socket, and put the winner in place of `fd` (same number: the
// caller, libcurl included, keeps using it).
attempt_result retry_time_wait_ports(int fd, const connect_request& req, const cx::address& dst) {
    const port_span span = *req.source.range;
    std::vector<uint16_t> ports =
        tcp_local_ports(source_ip_for(fd, req, dst), span.lo, span.hi, dst, kTcpTimeWait);
    attempt_result r;
    r.err = EADDRNOTAVAIL;
    connect_request one = req;
    one.source.range.reset();
    uint32_t tried = 0;
    for (uint16_t port : ports) {
        unique_fd fresh(::socket(dst.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (!fresh) {
            r.err = errno;
            break;
        }
        one.source.port = port;
        r = attempt(fresh.get(), one, dst);
        ++tried;
        if (r.timed_out) break;
        if (r.err == 0) {
            if (::dup3(fresh.get(), fd, O_CLOEXEC) < 0) r.err = errno;
            break;
        }
        r.err = EADDRNOTAVAIL;  // the range's verdict, whatever this port said
    }
    r.conn.attempts = tried;
    return r;
}

// What holds the 4-tuple, from the kernel's socket table: " (TIME_WAIT...)", or "".
std::string holder_text(const connect_request& req, const cx::address& local,
                        const cx::address& dst) {
    auto state = socket_state(req.socktype, local, dst);
    if (!state) return {};
    if (req.socktype == SOCK_DGRAM) return " (by a connected socket)";
    std::string text = " (" + tcp_state_name(*state);
    // For a port bound by the caller, the kernel takes over a TIME_WAIT 4-tuple whenever the old
    // connection carried TCP timestamps (tcp_tw_reuse only governs ports connect() picks itself).
    if (*state == kTcpTimeWait)
        text += ", which a fixed port may reuse only if it had TCP timestamps";
    return text + ")";
}

// Why a TCP bind(src, port) with SO_REUSEADDR was refused: the kernel's socket table says which
// socket holds the port.
std::string port_holder(const cx::address& src_ip, uint16_t port, const cx::address& dst) {
    cx::address local = src_ip;
    local.set_port(port);
    cx::address nowhere = wildcard(dst.family());
    auto tw = socket_state(SOCK_STREAM, local, dst);
    if (tw && *tw == kTcpTimeWait)
        return "4-tuple " + local.to_string() + " -> " + dst.to_string() +
               " is in TIME_WAIT, left by a socket bound without SO_REUSEADDR (as curl "
               "--local-port binds): the kernel keeps the port from every new bind until it "
               "ends";
    cx::address any_local = nowhere;
    any_local.set_port(port);
    for (const cx::address& l : {local, any_local}) {
        auto st = socket_state(SOCK_STREAM, l, nowhere);
        if (st && *st == 10) return "a socket listening on " + l.to_string() + " holds it";
    }
    return "a socket bound without SO_REUSEADDR holds it";
}

bool is_local_failure(int err) {
    return err == EADDRNOTAVAIL || err == EADDRINUSE || err == ENODEV || err == EAGAIN;
}

// "no free source port in N-M toward DST (K tried): why; 127.0.0.1:N ESTABLISHED, ...": for a
// range of a few ports, the state of each 4-tuple, so the user sees what is in the way.
std::string range_message(int fd, const connect_request& req, const cx::address& dst,
                          const attempt_result& r, const std::string& why) {
    const port_span& span = *req.source.range;
    std::string msg = "no free source port in " + std::to_string(span.lo) + "-" +
                      std::to_string(span.hi) + " toward " + dst.to_string();
    if (r.conn.attempts) msg += " (" + std::to_string(r.conn.attempts) + " tried)";
    msg += ": " + why;
    constexpr int kListed = 8;
    if (span.hi - span.lo >= kListed) return msg;
    cx::address local = source_ip_for(fd, req, dst);
    std::string held;
    for (uint32_t p = span.lo; p <= span.hi; ++p) {
        local.set_port(uint16_t(p));
        auto st = socket_state(req.socktype, local, dst);
        if (!st) continue;
        held += (held.empty() ? "" : ", ") + local.to_string() + " " +
                (req.socktype == SOCK_DGRAM ? "connected" : tcp_state_name(*st));
    }
    return held.empty() ? msg : msg + "; held: " + held;
}

// The kernel refuses to connect through a blackhole, unreachable or prohibit route with EINVAL,
// EHOSTUNREACH/ENETUNREACH or EACCES/EPERM: say it is the route, not the arguments.
std::string route_refusal(int err) {
    if (err == EINVAL) return "the route to it is a blackhole (the kernel drops the packets)";
    if (err == EACCES || err == EPERM) return "the route or a firewall prohibits it";
    return {};
}

// Exit status and message for a failed attempt at `dst`.
void describe_failure(int fd, const connect_request& req, const cx::address& dst,
                      const attempt_result& r, int& exit, std::string& msg) {
    const source_spec& s = req.source;
    bool udp = req.socktype == SOCK_DGRAM;
    int err = r.err;
    std::string why = std::strerror(err);
    if (r.timed_out) {
        exit = exit_timeout;
        msg = std::string(req.until_is_connect_timeout ? "Connection" : "Operation") +
              " timed out after " + ms_since(req.start) + " milliseconds";
        return;
    }
    if (s.any() && is_local_failure(err)) {
        exit = exit_interface;
        cx::address src_ip = source_ip_for(fd, req, dst);
        if (s.ip && err == EADDRNOTAVAIL && !is_local_address(*s.ip)) {
            msg = "source address " + s.ip->ip_string() + " is not an address of this host";
        } else if (s.ip && s.ifindex && err == EADDRNOTAVAIL &&
                   r.conn.technique == CONNECTX_TECH_NONE) {  // refused before any side effect
            msg = "source address " + s.ip->ip_string() + " is not on interface " + s.ifname;
        } else if (err == ENODEV) {
            msg = "interface " + s.ifname + " does not exist";
        } else if (s.pool && (err == EADDRNOTAVAIL || err == EAGAIN)) {
            msg = "no free source port toward " + dst.to_string() + " from any address of " +
                  s.pool->network.ip_string() + "/" + std::to_string(s.pool->length) + ": " + why;
        } else if ((s.range && err == EADDRNOTAVAIL) || (udp && err == EAGAIN)) {
            msg = s.range ? range_message(fd, req, dst, r, why)
                          : "no free source port toward " + dst.to_string() + ": " + why;
        } else if (!udp && err == EADDRINUSE) {
            msg = "cannot bind source port " + std::to_string(s.port) + ": " + why + " (" +
                  port_holder(src_ip, s.port, dst) + ")";
        } else if (s.port) {
            cx::address local = src_ip;
            local.set_port(s.port);
            msg = "4-tuple " + local.to_string() + " -> " + dst.to_string() + " is already in use" +
                  holder_text(req, local, dst) + ": " + why;
        } else {
            msg = "cannot use the source toward " + dst.to_string() + ": " + why;
        }
        return;
    }
    if (udp && (err == EPROTONOSUPPORT || err == EPROTO || err == ETIMEDOUT || err == ENOBUFS)) {
        exit = exit_interface;
        msg = "the UDP conflict check failed toward " + dst.to_string() + ": " + why;
        return;
    }
    exit = err == ETIMEDOUT ? exit_timeout : exit_connect;
    msg = "Failed to connect to " + req.host + " port " + std::to_string(dst.port()) + " after " +
          ms_since(req.start) + " ms: ";
    // connectx() checks its arguments before any side effect; an EINVAL after one is the
    // kernel's connect() answering for the route.
    std::string route = r.conn.technique != CONNECTX_TECH_NONE ? route_refusal(err) : "";
    msg += route.empty() ? why : route + " (" + why + ")";
}

void trace_connected(const connect_request& req, const connection& c) {
    std::string line = "connectx: " + c.local.to_string() + " -> " + c.remote.to_string() +
                       " (technique " + connectx_technique_name(c.technique);
    if (c.attempts > 1) line += ", " + std::to_string(c.attempts) + " ports tried";
    if (c.lookups) line += ", " + std::to_string(c.lookups) + " conflict lookups";
    trace_line("* ", line + ")");
    if (req.trace_trying)  // stream modes: say it as curl says it for HTTP
        trace_line("* ", "Connected to " + req.host + " (" + c.remote.ip_string() + ") port " +
                             std::to_string(c.remote.port()));
}

// The address that fixes the source's family: the pinned IP or the pool's prefix; and its text.
const cx::address* family_address(const source_spec& s) {
    return s.ip ? &*s.ip : s.pool ? &s.pool->network : nullptr;
}
std::string source_text(const source_spec& s) {
    if (s.pool) return s.pool->network.ip_string() + "/" + std::to_string(s.pool->length);
    return s.ip ? s.ip->ip_string() : std::string();
}

void trace_source(const source_spec& s) {
    std::string line = "Source:";
    if (s.ip) line += " address " + s.ip->ip_string();
    if (s.pool) line += " pool " + source_text(s);
    if (s.port) line += " port " + std::to_string(s.port);
    if (s.range)
        line += " ports " + std::to_string(s.range->lo) + "-" + std::to_string(s.range->hi);
    if (s.ifindex) line += " interface " + s.ifname + " (index " + std::to_string(s.ifindex) + ")";
    trace_line("* ", line);
}

// A link-local address means nothing without its link: --interface names it, as ping -I does.
// Returns the error text when there is neither a zone nor an interface.
std::string fill_zone(const connect_request& req, cx::address& dst) {
    if (!dst.is_link_local() || dst.scope_id() != 0) return {};
    if (!req.source.ifindex)
        return "link-local address " + dst.ip_string() + " needs a zone: [" + dst.ip_string() +
               "%25IFNAME] or --interface IFNAME";
    reinterpret_cast<sockaddr_in6*>(dst.sa())->sin6_scope_id = uint32_t(req.source.ifindex);
    return {};
}

}  // namespace

connect_outcome connect_socket(int fd, const connect_request& req, cx::address dst) {
    connect_outcome out;
    if (std::string why = fill_zone(req, dst); !why.empty()) {
        out.exit = exit_url_malformed;
        out.error = why;
        return out;
    }
    if (const auto* a = family_address(req.source); a && a->family() != dst.family()) {
        out.exit = exit_interface;
        out.error = "source address " + source_text(req.source) + " cannot reach " +
                    dst.ip_string() + ": not the same IP version";
        return out;
    }
    if (req.verbose && req.source.any()) trace_source(req.source);
    if (req.verbose && req.trace_trying) trace_line("*   Trying ", dst.to_string() + "...");
    attempt_result r = attempt(fd, req, dst);
    // Both range techniques pass over TIME_WAIT 4-tuples: the kernel's search (6.3+) and the
    // library's explicit ports (which check each 4-tuple first).
    // (With a pool the library already went through every source: nothing to retry here.)
    if (r.err == EADDRNOTAVAIL && req.source.range && !req.source.pool &&
        req.socktype == SOCK_STREAM &&
        (r.conn.technique == CONNECTX_TECH_LOCAL_PORT_RANGE ||
         r.conn.technique == CONNECTX_TECH_EXPLICIT_PORTS)) {
        if (req.verbose)
            trace_line("* ",
                       "no free port in the range; trying its ports "
                       "whose 4-tuple is in TIME_WAIT");
        r = retry_time_wait_ports(fd, req, dst);
    }
    if (r.err == 0 && !r.timed_out) {
        if (req.verbose) trace_connected(req, r.conn);
        out.conn.local = r.conn.local;
        out.conn.remote = dst;
        out.conn.technique = r.conn.technique;
        out.conn.attempts = r.conn.attempts;
        out.conn.lookups = r.conn.lookups;
        return out;
    }
    describe_failure(fd, req, dst, r, out.exit, out.error);
    if (req.verbose) trace_line("* ", out.error);
    return out;
}

connect_outcome open_connection(const connect_request& req) {
    connect_outcome out;
    bool tried_any = false;
    for (const cx::address& dst : req.candidates) {
        if (const auto* a = family_address(req.source); a && a->family() != dst.family()) {
            if (req.verbose)
                trace_line("* ", "Skipping " + dst.ip_string() + ": not the family of source " +
                                     source_text(req.source));
            continue;
        }
        tried_any = true;
        unique_fd fd(::socket(dst.family(), req.socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (!fd) {
            out.exit = exit_connect;
            out.error = std::string("socket: ") + std::strerror(errno);
            return out;
        }
        out = connect_socket(fd.get(), req, dst);
        if (out.exit == 0) {
            out.conn.fd = std::move(fd);
            return out;
        }
        if (out.exit == exit_timeout) break;  // the time is spent for every other address too
    }
    if (!tried_any) {
        out.exit = exit_interface;
        out.error = "source address " + source_text(req.source) + " cannot reach " + req.host +
                    ": no address of the same IP version";
    }
    return out;
}

}  // namespace cxcli
