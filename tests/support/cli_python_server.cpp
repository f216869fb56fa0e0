// cli_python_server.cpp - openssl for the certificate, python3 for the server, both as child
// processes; the server's "ready" line is read with a time limit.
#include "cli_python_server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "cli_run.hpp"

namespace cxtest {

test_certificate::test_certificate(const std::string& ip) {
    char tmpl[] = "/tmp/cxcli-tls-XXXXXX";
    if (!::mkdtemp(tmpl)) {
        error_ = "mkdtemp failed";
        return;
    }
    dir_ = tmpl;
    cert_ = dir_ + "/cert.pem";
    key_ = dir_ + "/key.pem";
    // An EC key: a fraction of RSA's generation time.
    auto r = run_program("/usr/bin/openssl",
                         {"req", "-x509", "-newkey", "ec", "-pkeyopt",
                          "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key_, "-out", cert_,
                          "-days", "2", "-subj", "/CN=" + ip, "-addext", "subjectAltName=IP:" + ip},
                         "", 60);
    ok_ = r.exit == 0;
    if (!ok_) error_ = "openssl req exit " + std::to_string(r.exit) + ": " + r.err;
}

test_certificate::~test_certificate() {
    if (dir_.empty()) return;
    ::unlink(cert_.c_str());
    ::unlink(key_.c_str());
    ::rmdir(dir_.c_str());
}

python_http_server::python_http_server(const std::string& script, const std::string& ip,
                                       const test_certificate& cert) {
    std::vector<std::string> args = {"/usr/bin/python3", script, ip, cert.cert(), cert.key()};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) {
        error_ = "pipe failed";
        return;
    }
    pid_ = ::fork();
    if (pid_ == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test
        ::dup2(out[1], 1);
        ::execv(argv[0], argv.data());
        _exit(127);
    }
    ::close(out[1]);
    std::string line;
    char buf[256];
    for (int i = 0; i < 100 && line.find('\n') == std::string::npos; ++i) {  // up to 10 s
        pollfd p{out[0], POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        ssize_t n = ::read(out[0], buf, sizeof buf);
        if (n <= 0) break;
        line.append(buf, size_t(n));
    }
    ::close(out[0]);
    unsigned a = 0, b = 0;
    if (std::sscanf(line.c_str(), "ready %u %u", &a, &b) == 2) {
        http_port_ = uint16_t(a);
        https_port_ = uint16_t(b);
    } else {
        error_ = "python3 " + script + " did not start: \"" + line + "\"";
    }
}

python_http_server::~python_http_server() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
}

}  // namespace cxtest
