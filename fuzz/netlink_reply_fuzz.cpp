// netlink_reply_fuzz.cpp - libFuzzer target for the netlink reply parsers: the exact-lookup and
// dump replies of SOCK_DIAG_BY_FAMILY and the RTM_GETROUTE reply. The first input byte picks the
// parser; the rest is the datagram as recv() would return it. Whatever the bytes, a parser must
// return without reading out of bounds, and only a well-formed answer to our request may succeed.
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "route_lookup.hpp"
#include "sock_diag.hpp"

namespace {
constexpr uint32_t kSeq = 1, kPortid = 0x1234;
void on_entry(const cx::detail::diag_entry& e, void* ctx) {
    if (e.family != AF_INET && e.family != AF_INET6) std::abort();
    ++*static_cast<size_t*>(ctx);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    const uint8_t which = data[0] % 3;
    const bool v6 = (data[0] / 3) & 1;
    // A heap copy of exactly the datagram (malloc aligns as recv() buffers are): ASan sees any
    // read past its end.
    const size_t len = size - 1;
    auto* copy = static_cast<uint8_t*>(std::malloc(len ? len : 1));
    std::memcpy(copy, data + 1, len);
    switch (which) {
        case 0: {
            cx::detail::diag_tuple t;
            t.family = AF_INET;
            t.local_port = 40000;
            cx::detail::diag_answer a;
            int e = cx::detail::sock_diag_parse_lookup(copy, len, kSeq, kPortid, t, a);
            if (e != 0 && a.cookie) std::abort();  // an error never carries an answer
            break;
        }
        case 1: {
            size_t n = 0;
            bool done = false;
            cx::detail::sock_diag_parse_dump(copy, len, kSeq, kPortid, on_entry, &n, done);
            break;
        }
        default: {
            cx::detail::route_query q;
            q.family = v6 ? AF_INET6 : AF_INET;
            cx::detail::route_answer a;
            cx::detail::route_parse_reply(copy, len, kSeq, kPortid, q, a);
            break;
        }
    }
    std::free(copy);
    return 0;
}
