// connector.cpp - connectx() per candidate address, the handshake wait, and the
// mapping of errno to curl's exit codes with messages that say which 4-tuple was in the way.
#include "connector.hpp"

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

// One socket, one connectx() call from the source the request pins, and for TCP the wait for
// the handshake.
attempt_result attempt(const connect_request& req, const cx::address& dst) {
    attempt_result r;
    r.conn.remote = dst;
    unique_fd fd(::socket(dst.family(), req.socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
        r.err = errno;
        return r;
    }
    connectx_result res{};
    connectx_opts opts{};
    opts.size = sizeof opts;
    opts.ifindex = req.source.ifindex;
    if (req.source.range) {
        opts.port_lo = req.source.range->lo;
        opts.port_hi = req.source.range->hi;
    }
    opts.result = &res;
    auto src = source_for(req.source, dst);
    int rc = connectx(fd.get(), src ? src->sa() : nullptr, src ? src->size() : 0, dst.sa(),
                      dst.size(), &opts);
    int err = rc == 0 ? 0 : errno;
    r.conn.technique = res.technique;
    r.conn.attempts = res.attempts;
    r.conn.lookups = res.lookups;
    r.conn.local = local_of(fd.get());  // after a failed TCP connect, the port it was bound to
    if (err == EINPROGRESS) {
        int ev = wait_fd(fd.get(), POLLOUT, req.until);
        if (ev == 0) {
            r.timed_out = true;
            return r;
        }
        if (ev < 0) {
            r.err = -ev;
            return r;
        }
        socklen_t len = sizeof err;
        if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
        r.conn.local = local_of(fd.get());
    }
    r.err = err;
    if (err == 0) r.conn.fd = std::move(fd);
    return r;
}

std::string ms_since(clock::time_point t0) {
    return std::to_string(
        std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t0).count());
}

std::string tuple_text(const cx::address& src_ip, uint16_t sport, const cx::address& dst) {
    cx::address s = src_ip;
    s.set_port(sport);
    return s.to_string() + " -> " + dst.to_string();
}

// The source IP a failed attempt was using: the pinned one, else the route's choice.
cx::address source_ip_for(const connect_request& req, const cx::address& dst) {
    if (req.source.ip) return *req.source.ip;
    if (auto ip = route_source(dst, req.source.ifindex)) return *ip;
    return wildcard(dst.family());
}

// What holds the 4-tuple, from the kernel's socket table: " (TIME_WAIT...)", or "".
std::string holder_text(const connect_request& req, const cx::address& dst) {
    cx::address local = source_ip_for(req, dst);
    local.set_port(req.source.port);
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

bool is_local_failure(int err) {
    return err == EADDRNOTAVAIL || err == EADDRINUSE || err == ENODEV || err == EAGAIN;
}

// Exit status and message for a failed attempt at `dst`.
void describe_failure(const connect_request& req, const cx::address& dst, const attempt_result& r,
                      int& exit, std::string& msg) {
    const source_spec& s = req.source;
    bool udp = req.socktype == SOCK_DGRAM;
    int err = r.err;
    std::string why = std::strerror(err);
    if (r.timed_out) {
        exit = exit_timeout;
        msg = std::string(req.until_is_connect_timeout ? "Connection" : "Operation") +
              " timed out after " + ms_since(req.start) + " milliseconds connecting to " +
              dst.to_string();
        return;
    }
    if (s.any() && is_local_failure(err)) {
        exit = exit_interface;
        if (s.ip && err == EADDRNOTAVAIL && !is_local_address(*s.ip)) {
            msg = "source address " + s.ip->ip_string() + " is not an address of this host";
        } else if (s.ip && s.ifindex && err == EADDRNOTAVAIL &&
                   r.conn.technique == CONNECTX_TECH_NONE) {  // refused before any side effect
            msg = "source address " + s.ip->ip_string() + " is not on interface " + s.ifname;
        } else if (err == ENODEV) {
            msg = "interface " + s.ifname + " does not exist";
        } else if ((s.range && err == EADDRNOTAVAIL) || (udp && err == EAGAIN)) {
            msg = "no free source port";
            if (s.range)
                msg += " in " + std::to_string(s.range->lo) + "-" + std::to_string(s.range->hi);
            msg += " toward " + dst.to_string();
            if (r.conn.attempts) msg += " (" + std::to_string(r.conn.attempts) + " tried)";
            msg += ": " + why;
        } else if (!udp && err == EADDRINUSE) {
            msg = "cannot bind source port " + std::to_string(s.port) + ": " + why +
                  " (a listening socket, or one without SO_REUSEADDR, holds it)";
        } else if (s.port) {
            msg = "4-tuple " + tuple_text(source_ip_for(req, dst), s.port, dst) +
                  " is already in use" + holder_text(req, dst) + ": " + why;
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
          ms_since(req.start) + " ms: " + why;
}

void trace_connected(const connect_request& req, const connection& c) {
    std::string line = "Connected to " + req.host + " (" + c.remote.ip_string() + ") port " +
                       std::to_string(c.remote.port()) + " from " + c.local.ip_string() + " port " +
                       std::to_string(c.local.port()) + " (technique " +
                       connectx_technique_name(c.technique);
    if (c.attempts > 1) line += ", " + std::to_string(c.attempts) + " ports tried";
    if (c.lookups) line += ", " + std::to_string(c.lookups) + " conflict lookups";
    trace_line("* ", line + ")");
}

void trace_source(const source_spec& s) {
    std::string line = "Source:";
    if (s.ip) line += " address " + s.ip->ip_string();
    if (s.port) line += " port " + std::to_string(s.port);
    if (s.range)
        line += " ports " + std::to_string(s.range->lo) + "-" + std::to_string(s.range->hi);
    if (s.ifindex) line += " interface " + s.ifname + " (index " + std::to_string(s.ifindex) + ")";
    trace_line("* ", line);
}

}  // namespace

connect_outcome open_connection(const connect_request& req) {
    connect_outcome out;
    if (req.verbose && req.source.any()) trace_source(req.source);
    bool tried_any = false;
    for (cx::address dst : req.candidates) {
        // A link-local address means nothing without its link: --interface names it, as
        // ping -I does; otherwise say so rather than pass on the library's EINVAL.
        if (dst.is_link_local() && dst.scope_id() == 0) {
            if (!req.source.ifindex) {
                out.exit = exit_url_malformed;
                out.error = "link-local address " + dst.ip_string() + " needs a zone: [" +
                            dst.ip_string() + "%25IFNAME] or --interface IFNAME";
                tried_any = true;
                continue;
            }
            reinterpret_cast<sockaddr_in6*>(dst.sa())->sin6_scope_id = uint32_t(req.source.ifindex);
        }
        if (req.source.ip && req.source.ip->family() != dst.family()) {
            if (req.verbose)
                trace_line("* ", "Skipping " + dst.ip_string() + ": not the family of source " +
                                     req.source.ip->ip_string());
            continue;
        }
        tried_any = true;
        if (req.verbose) trace_line("*   Trying ", dst.to_string() + "...");
        // A range moves on by itself: the library passes over ports whose 4-tuple is taken.
        attempt_result r = attempt(req, dst);
        if (r.err == 0 && !r.timed_out) {
            if (req.verbose) trace_connected(req, r.conn);
            out.conn = std::move(r.conn);
            out.exit = 0;
            out.error.clear();
            return out;
        }
        describe_failure(req, dst, r, out.exit, out.error);
        if (req.verbose) trace_line("* ", out.error);
        if (r.timed_out) break;  // the time is spent for every other address too
    }
    if (!tried_any) {
        out.exit = exit_interface;
        out.error = "source address " + req.source.ip->ip_string() + " cannot reach " + req.host +
                    ": no address of the same IP version";
    }
    return out;
}

}  // namespace cxcli
