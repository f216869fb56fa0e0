// reentry.hpp - the "inside connectx" mark. The library makes its own bind/connect/setsockopt/
// close/socket calls by symbol, and in a preloaded process those symbols resolve to our wrappers
// first. While this thread runs connectx(), every wrapper passes straight to libc, so the
// library's calls reach the kernel exactly as they do without the drop-in, and nothing recurses.
// A thread-local flag rather than renaming the library's symbols: it keeps the library's objects
// untouched (the same connectx_obj as libconnectx.so) and costs one TLS load per wrapped call.
#pragma once

namespace cxp {

// The default (dynamic) TLS model, not initial-exec: preloaded, the drop-in's TLS is in the static
// block anyway (no allocation on a thread's first access); and it can still be dlopen()ed
// (connectx-stress's udp-dropin row does), which an initial-exec variable would forbid by asking
// for the library's whole TLS (the connectx library's buffers) in the static block.
extern thread_local bool t_inside;

inline bool inside_connectx() noexcept {
    return t_inside;
}

// Marks the current thread inside connectx for the scope's lifetime.
class inside_scope {
public:
    inside_scope() noexcept : was_(t_inside) { t_inside = true; }
    ~inside_scope() { t_inside = was_; }
    inside_scope(const inside_scope&) = delete;
    inside_scope& operator=(const inside_scope&) = delete;

private:
    bool was_;
};

}  // namespace cxp
