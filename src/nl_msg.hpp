// nl_msg.hpp - checks shared by every netlink reply parser: does a message fit, does it answer
// our request, do its attributes tile it, and what an NLMSG_ERROR says. Pure functions over
// bytes; no I/O (that is nl_socket.hpp).
#pragma once

#include <linux/netlink.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>

namespace cx::detail {

// Bytes of an IP address of `family` as netlink carries it (AF_INET: 4, else 16).
inline size_t addr_len(int family) noexcept {
    return family == AF_INET ? 4 : 16;
}

// Starts a request in `buf`: zeroes its first `size` bytes (the request's whole extent, so
// padding and unused fields go out as zeros) and writes the header. The caller checked that
// `buf` holds `size` bytes.
nlmsghdr* nl_request_start(void* buf, size_t size, uint16_t type, uint16_t flags,
                           uint32_t seq) noexcept;

// True when a netlink message header fits in `remaining` bytes and its length covers at least the
// header and at most those bytes. (libmnl's mnl_nlmsg_ok() compares the length as a signed int:
// a length of 2^31 or more passes it, found by fuzzing.)
[[nodiscard]] bool nl_msg_fits(const void* nlh, size_t remaining) noexcept;

// True when the message fits in `remaining` bytes and answers request `seq` sent from `portid`.
[[nodiscard]] bool nl_msg_answers(const void* nlh, size_t remaining, uint32_t seq,
                                  uint32_t portid) noexcept;

// True when the attributes after `offset` bytes of payload tile the message exactly: libmnl's
// iterators stop silently at a bad attribute, a reply validator must not.
[[nodiscard]] bool nl_attrs_ok(const void* nlh, size_t offset) noexcept;

// What an NLMSG_ERROR message (already checked to fit) carries.
enum class nl_error_kind {
    malformed,  // payload shorter than struct nlmsgerr, or an error outside -4095..0
    ack,        // error 0: an acknowledgement
    error,      // a negative errno: `errno_value` holds it, positive
};
struct nl_error {
    nl_error_kind kind = nl_error_kind::malformed;
    int errno_value = 0;
};
[[nodiscard]] nl_error nl_error_decode(const void* nlh) noexcept;

// The NLMSG_ERROR as the answer to a request that expects data: the kernel's errno, or EPROTO
// when the message is malformed or an ACK (which nobody asked for). The one rule every parser of
// this library applies.
[[nodiscard]] int nl_error_answer(const void* nlh) noexcept;

}  // namespace cx::detail
