// program_check.cpp - ELF inspection for connectx-exec --verbose.
#include "program_check.hpp"

#include <elf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

namespace cxexec {
namespace {

bool read_at(std::ifstream& in, uint64_t off, void* buf, size_t n) {
    in.seekg(std::streamoff(off));
    return bool(in.read(static_cast<char*>(buf), std::streamsize(n)));
}

// True if any section is named one of Go's.
bool has_go_section(std::ifstream& in, const Elf64_Ehdr& eh) {
    if (eh.e_shoff == 0 || eh.e_shstrndx == SHN_UNDEF || eh.e_shnum == 0) return false;
    std::vector<Elf64_Shdr> sh(eh.e_shnum);
    if (!read_at(in, eh.e_shoff, sh.data(), sh.size() * sizeof(Elf64_Shdr))) return false;
    if (eh.e_shstrndx >= sh.size()) return false;
    const Elf64_Shdr& names = sh[eh.e_shstrndx];
    if (names.sh_size > (1u << 20)) return false;
    std::string strtab(names.sh_size, '\0');
    if (!read_at(in, names.sh_offset, strtab.data(), strtab.size())) return false;
    for (const Elf64_Shdr& s : sh) {
        if (s.sh_name >= strtab.size()) continue;
        const char* name = strtab.c_str() + s.sh_name;
        if (!std::strcmp(name, ".note.go.buildid") || !std::strcmp(name, ".go.buildinfo"))
            return true;
    }
    return false;
}

bool has_interp(std::ifstream& in, const Elf64_Ehdr& eh) {
    for (unsigned i = 0; i < eh.e_phnum; ++i) {
        Elf64_Phdr ph;
        if (!read_at(in, eh.e_phoff + uint64_t(i) * eh.e_phentsize, &ph, sizeof ph)) return false;
        if (ph.p_type == PT_INTERP) return true;
    }
    return false;
}

program_reach check_elf(const std::string& path) {
    program_reach r{reach::unknown, path, "not an ELF executable connectx-exec can read"};
    std::ifstream in(path, std::ios::binary);
    Elf64_Ehdr eh;
    if (!in || !read_at(in, 0, &eh, sizeof eh) || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
        eh.e_ident[EI_CLASS] != ELFCLASS64)
        return r;
    struct stat st;
    if (stat(path.c_str(), &st) == 0 && (st.st_mode & (S_ISUID | S_ISGID)))
        return {reach::setid, path,
                "it is set-user-ID or set-group-ID: the loader ignores LD_PRELOAD for it"};
    if (has_go_section(in, eh))
        return {reach::go, path,
                "it is a Go binary: Go's runtime makes its socket system calls itself, not "
                "through libc, so the drop-in never sees them"};
    if (!has_interp(in, eh))
        return {reach::is_static, path,
                "it is statically linked (no program interpreter): nothing loads the drop-in"};
    return {reach::dynamic, path, "dynamically linked: the drop-in applies"};
}

// "#!/usr/bin/env python3" -> "python3" looked up; "#!/bin/sh -e" -> "/bin/sh".
std::string script_interpreter(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::string line;
    if (!in || !std::getline(in, line) || line.rfind("#!", 0) != 0) return "";
    std::istringstream words(line.substr(2));
    std::string interp, arg;
    words >> interp >> arg;
    if (interp.size() >= 4 && interp.compare(interp.size() - 4, 4, "/env") == 0 && !arg.empty() &&
        arg[0] != '-')
        return find_in_path(arg);
    return interp;
}

}  // namespace

std::string find_in_path(const std::string& file) {
    if (file.find('/') != std::string::npos) return access(file.c_str(), X_OK) == 0 ? file : "";
    const char* env = std::getenv("PATH");
    std::istringstream dirs(env ? env : "/usr/local/bin:/usr/bin:/bin");
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        std::string candidate = (dir.empty() ? "." : dir) + "/" + file;
        struct stat st;
        if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
            access(candidate.c_str(), X_OK) == 0)
            return candidate;
    }
    return "";
}

program_reach check_program(const std::string& file) {
    std::string path = find_in_path(file);
    if (path.empty()) return {reach::unknown, file, "not found in PATH"};
    std::string interp = script_interpreter(path);
    if (interp.empty()) return check_elf(path);
    program_reach r = check_elf(interp);
    r.why = "a script run by " + interp + ": " + r.why;
    return r;
}

}  // namespace cxexec
