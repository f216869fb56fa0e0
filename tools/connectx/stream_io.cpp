// stream_io.cpp - the byte pump behind tcp:// and udp://. One poll loop over the socket and the
// input. Input is read only when the previous piece has been sent, so a slow peer slows the
// reader instead of growing a buffer. With UDP each piece of input is one datagram: each -d, or
// each read(2) of standard input (one line from a terminal, up to 65507 bytes from a pipe).
#include "stream_io.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "exit_codes.hpp"

namespace cxcli {
namespace {

constexpr size_t kMaxDatagram = 65507;  // IPv4's largest UDP payload; IPv6 allows a little more

std::string ms_since(clock::time_point t0) {
    return std::to_string(
        std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t0).count());
}

}  // namespace

transfer_result stream_transfer(int sock, const stream_options& opt, int out_fd,
                                const deadline& until, clock::time_point start) {
    transfer_result r;
    std::string pending;         // input not yet sent (TCP: any bytes; UDP: one datagram)
    bool have_datagram = false;  // UDP: `pending` holds a datagram, possibly empty
    bool input_done = false;
    bool shut_down = false;
    if (opt.data) {
        pending = *opt.data;
        have_datagram = opt.udp;
        input_done = true;
    }
    deadline idle = deadline::never();
    std::string buf(kMaxDatagram, '\0');

    auto fail = [&](int code, std::string why) {
        r.exit = code;
        r.error = std::move(why);
        return r;
    };

    for (;;) {
        bool to_send = opt.udp ? have_datagram : !pending.empty();
        if (input_done && !to_send) {
            if (!opt.udp && !shut_down) {
                ::shutdown(sock, SHUT_WR);  // the peer sees EOF, as with nc -N
                shut_down = true;
            }
            if (idle.is_never() && opt.idle_timeout > 0) idle = deadline::after(opt.idle_timeout);
        }
        deadline wake = deadline::earliest(until, idle);
        pollfd fds[2] = {{sock, short(POLLIN | (to_send ? POLLOUT : 0)), 0},
                         {STDIN_FILENO, POLLIN, 0}};
        nfds_t nfds = (!input_done && !to_send) ? 2 : 1;
        int n = ::poll(fds, nfds, wake.poll_ms());
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail(exit_recv, std::string("poll: ") + std::strerror(errno));
        }
        if (n == 0) {
            if (until.expired())
                return fail(exit_timeout, "Operation timed out after " + ms_since(start) +
                                              " milliseconds with " + std::to_string(r.received) +
                                              " bytes received");
            if (idle.expired()) {
                if (opt.verbose) {
                    char secs[32];
                    std::snprintf(secs, sizeof secs, "%g", opt.idle_timeout);
                    trace_line("* ", std::string("Idle for ") + secs + " s after the input ended");
                }
                return r;
            }
            continue;
        }
        if (fds[0].revents & (POLLIN | POLLERR | POLLHUP)) {
            ssize_t got = ::recv(sock, buf.data(), buf.size(), 0);
            if (got > 0 || (got == 0 && opt.udp)) {  // an empty datagram is data too
                r.received += uint64_t(got);
                if (int e = write_all(out_fd, std::string_view(buf.data(), size_t(got))))
                    return fail(exit_write,
                                std::string("Failure writing output: ") + std::strerror(e));
                if (!idle.is_never()) idle = deadline::after(opt.idle_timeout);
            } else if (got == 0 && !opt.udp) {
                return r;  // the peer closed: the normal end of a TCP exchange
            } else if (got < 0 && errno != EAGAIN && errno != EINTR) {
                // Connected UDP reports an ICMP port unreachable here: nothing listens.
                int e = errno;
                if (opt.udp && e == ECONNREFUSED)
                    return fail(exit_connect,
                                std::string("Failed to reach the peer: ") + std::strerror(e));
                return fail(exit_recv, std::string("Recv failure: ") + std::strerror(e));
            }
        }
        if (to_send && (fds[0].revents & POLLOUT)) {
            ssize_t sent = ::send(sock, pending.data(), pending.size(), MSG_NOSIGNAL);
            if (sent >= 0) {
                r.sent += uint64_t(sent);
                if (opt.udp) {
                    pending.clear();
                    have_datagram = false;
                } else {
                    pending.erase(0, size_t(sent));
                }
            } else if (errno != EAGAIN && errno != EINTR) {
                int e = errno;
                if (opt.udp && e == ECONNREFUSED)
                    return fail(exit_connect,
                                std::string("Failed to reach the peer: ") + std::strerror(e));
                return fail(exit_send, std::string("Send failure: ") + std::strerror(e));
            }
        }
        if (nfds == 2 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t got = ::read(STDIN_FILENO, buf.data(), buf.size());
            if (got > 0) {
                pending.assign(buf.data(), size_t(got));
                have_datagram = opt.udp;
            } else if (got == 0 || errno == EBADF) {
                input_done = true;
            } else if (errno != EAGAIN && errno != EINTR) {
                return fail(exit_read,
                            std::string("Failed reading standard input: ") + std::strerror(errno));
            }
        }
    }
}

}  // namespace cxcli
