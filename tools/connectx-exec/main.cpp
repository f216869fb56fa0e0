// connectx-exec(1): run a program with libconnectx-preload.so, so its outgoing TCP and UDP
// connections get connectx without a rebuild. Validates the options, sets the CONNECTX_*
// environment the drop-in reads, appends the drop-in to LD_PRELOAD and execs the program.
// Exit status as env(1): 125 for connectx-exec's own errors, 126 program not executable,
// 127 program not found; otherwise the program's own.
#include <connectx/connectx.h>
#include <getopt.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "config.hpp"
#include "program_check.hpp"

namespace {

constexpr int kExitUsage = 125, kExitCannotRun = 126, kExitNotFound = 127;
constexpr const char* kLibName = "libconnectx-preload.so";

void usage(FILE* to) {
    std::fputs(
        "Usage: connectx-exec [OPTIONS] -- PROGRAM [ARGS...]\n"
        "Run PROGRAM with libconnectx-preload.so: its client sockets get connectx's techniques\n"
        "(no port locked by bind(ip, 0), UDP flows beyond the port range, pinned ports that\n"
        "survive TIME_WAIT), with no change to PROGRAM.\n"
        "\n"
        "  -s, --source ADDR[,ADDR]  default source address of client sockets that do not bind\n"
        "                            (one IPv4 and/or one IPv6)          [CONNECTX_SOURCE]\n"
        "  -p, --ports LO-HI         source port range for the connections [CONNECTX_PORTS]\n"
        "  -P, --pool PREFIX[,PREFIX]  a source pool for client sockets that do not bind: the\n"
        "                            library picks an address of the prefix and moves on when\n"
        "                            one is full (one IPv4 and/or one IPv6 prefix, each of a\n"
        "                            family --source leaves open)         [CONNECTX_POOL]\n"
        "  -v, --verbose             one line per connection on stderr, and say whether the\n"
        "                            drop-in can reach PROGRAM at all    [CONNECTX_VERBOSE=1]\n"
        "      --off                 load the drop-in inert: every call goes to libc as is\n"
        "                                                                [CONNECTX_OFF=1]\n"
        "  -h, --help                this text\n"
        "  -V, --version             the version\n"
        "\n"
        "The drop-in is appended to an existing LD_PRELOAD. See connectx-exec(1).\n",
        to);
}

std::string dir_of(const std::string& path) {
    size_t slash = path.rfind('/');
    return slash == std::string::npos ? "." : path.substr(0, slash);
}

// $CONNECTX_PRELOAD_LIB, then beside the installed program (<bindir>/<rel>/<libdir>), then the
// build tree this program was built in.
std::string find_library() {
    if (const char* env = std::getenv("CONNECTX_PRELOAD_LIB"); env && *env) return env;
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    std::string candidates[2];
    if (n > 0) {
        self[n] = '\0';
        candidates[0] = dir_of(self) + "/" CONNECTX_EXEC_BIN_TO_LIB "/" + kLibName;
    }
    candidates[1] = CONNECTX_EXEC_BUILD_LIB;
    for (const std::string& c : candidates) {
        char real[PATH_MAX];
        if (!c.empty() && realpath(c.c_str(), real) && access(real, R_OK) == 0) return real;
    }
    return "";
}

// LD_PRELOAD with `lib` appended (once).
std::string preload_with(const std::string& lib) {
    const char* old = std::getenv("LD_PRELOAD");
    std::string list = old ? old : "";
    std::string padded = ":" + list + ":";
    for (char& c : padded)
        if (c == ' ') c = ':';
    if (padded.find(":" + lib + ":") != std::string::npos) return list;
    return list.empty() ? lib : list + ":" + lib;
}

// Checks one value with the drop-in's own parser; prints the error and returns false if bad.
bool valid(const char* var, const char* value) {
    cxp::config c;
    bool sw;
    // CONNECTX_POOL is checked against CONNECTX_SOURCE's families, as the drop-in reads them.
    if (!std::strcmp(var, "CONNECTX_POOL"))
        if (const char* s = std::getenv("CONNECTX_SOURCE")) (void)cxp::parse_sources(s, c);
    int e = !std::strcmp(var, "CONNECTX_SOURCE")  ? cxp::parse_sources(value, c)
            : !std::strcmp(var, "CONNECTX_PORTS") ? cxp::parse_ports(value, c)
            : !std::strcmp(var, "CONNECTX_POOL")  ? cxp::parse_pools(value, c)
                                                  : cxp::parse_switch(value, sw);
    if (e == 0) return true;
    std::fprintf(stderr, "connectx-exec: %s=\"%s\" is not valid: %s\n", var, value,
                 !std::strcmp(var, "CONNECTX_SOURCE")
                     ? "expected numeric addresses, at most one IPv4 and one IPv6, comma-separated"
                 : !std::strcmp(var, "CONNECTX_PORTS")
                     ? "expected LO-HI with 1 <= LO <= HI <= 65535"
                 : !std::strcmp(var, "CONNECTX_POOL")
                     ? "expected IP/LEN prefixes with the host bits zero and at most 65,536 "
                       "addresses, at most one IPv4 and one IPv6, none of a family --source names"
                     : "expected 1/0, yes/no, true/false, on/off");
    return false;
}

}  // namespace

int main(int argc, char** argv) {
    static const option longopts[] = {{"source", required_argument, nullptr, 's'},
                                      {"ports", required_argument, nullptr, 'p'},
                                      {"pool", required_argument, nullptr, 'P'},
                                      {"verbose", no_argument, nullptr, 'v'},
                                      {"off", no_argument, nullptr, 'O'},
                                      {"help", no_argument, nullptr, 'h'},
                                      {"version", no_argument, nullptr, 'V'},
                                      {nullptr, 0, nullptr, 0}};
    int opt;
    // '+': stop at the first non-option, so PROGRAM's own options are never ours.
    while ((opt = getopt_long(argc, argv, "+s:p:P:vhV", longopts, nullptr)) != -1) {
        switch (opt) {
            case 's':
                setenv("CONNECTX_SOURCE", optarg, 1);
                break;
            case 'p':
                setenv("CONNECTX_PORTS", optarg, 1);
                break;
            case 'P':
                setenv("CONNECTX_POOL", optarg, 1);
                break;
            case 'v':
                setenv("CONNECTX_VERBOSE", "1", 1);
                break;
            case 'O':
                setenv("CONNECTX_OFF", "1", 1);
                break;
            case 'h':
                usage(stdout);
                return 0;
            case 'V':
                std::printf("connectx-exec %d.%d.%d\n", CONNECTX_VERSION_MAJOR,
                            CONNECTX_VERSION_MINOR, CONNECTX_VERSION_PATCH);
                return 0;
            default:
                usage(stderr);
                return kExitUsage;
        }
    }
    if (optind >= argc) {
        std::fputs("connectx-exec: no PROGRAM given (connectx-exec [OPTIONS] -- PROGRAM ...)\n",
                   stderr);
        return kExitUsage;
    }
    for (const char* var :
         {"CONNECTX_SOURCE", "CONNECTX_PORTS", "CONNECTX_POOL", "CONNECTX_VERBOSE", "CONNECTX_OFF"})
        if (const char* v = std::getenv(var); v && !valid(var, v)) return kExitUsage;

    std::string lib = find_library();
    if (lib.empty()) {
        std::fprintf(stderr,
                     "connectx-exec: %s not found beside this program (%s) nor in the build "
                     "tree; set CONNECTX_PRELOAD_LIB to its path\n",
                     kLibName, CONNECTX_EXEC_BIN_TO_LIB);
        return kExitUsage;
    }
    setenv("LD_PRELOAD", preload_with(lib).c_str(), 1);

    bool verbose = false;
    cxp::parse_switch(std::getenv("CONNECTX_VERBOSE") ? std::getenv("CONNECTX_VERBOSE") : "",
                      verbose);
    if (verbose) {
        cxexec::program_reach r = cxexec::check_program(argv[optind]);
        std::fprintf(stderr, "connectx-exec: LD_PRELOAD=%s\n", std::getenv("LD_PRELOAD"));
        if (r.what != cxexec::reach::dynamic)
            std::fprintf(stderr, "connectx-exec: warning: the drop-in cannot reach %s: %s\n",
                         r.path.c_str(), r.why.c_str());
    }
    execvp(argv[optind], argv + optind);
    int e = errno;
    std::fprintf(stderr, "connectx-exec: %s: %s\n", argv[optind], std::strerror(e));
    return e == ENOENT ? kExitNotFound : kExitCannotRun;
}
