// program_check.hpp - can an LD_PRELOAD library reach this program? Reads the executable (and,
// for a "#!" script, its interpreter) and names what keeps the drop-in out: no dynamic loader
// (a static binary), a Go binary (its runtime makes system calls itself, not through libc), or
// set-user/group-ID (the loader ignores LD_PRELOAD paths for secure execution).
#pragma once

#include <string>

namespace cxexec {

enum class reach {
    dynamic,    // a dynamically linked program: the drop-in applies
    is_static,  // no PT_INTERP: nothing loads the drop-in
    go,         // .note.go.buildid / .go.buildinfo: Go's runtime bypasses libc
    setid,      // set-user-ID or set-group-ID
    unknown,    // not an ELF file we could read
};

struct program_reach {
    reach what = reach::unknown;
    std::string path;  // the file inspected (the interpreter, for a script)
    std::string why;   // one sentence for the user
};

// `file` is the program as execvp would run it ("python3", "./a.out"): looked up in PATH.
program_reach check_program(const std::string& file);

// PATH lookup as execvp(3) does it; "" when not found.
std::string find_in_path(const std::string& file);

}  // namespace cxexec
