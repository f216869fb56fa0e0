// unique_fd.hpp - a file descriptor a test owns: closed when the test leaves its scope, on an
// ASSERT's early return too. The library's own unique_fd (src/sys.hpp), made to convert to int
// so that system calls take it as they took the raw fd.
#pragma once

#include "sys.hpp"

namespace cxtest {

class unique_fd : public cx::detail::unique_fd {
public:
    using cx::detail::unique_fd::unique_fd;
    operator int() const noexcept { return get(); }  // NOLINT: implicit on purpose, see above
};

}  // namespace cxtest
