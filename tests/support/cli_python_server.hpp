// cli_python_server.hpp - the HTTP + HTTPS server of the connectx(1)-beside-curl tests
// (tests/support/cli_http_server.py on Debian's python3) and the self-signed certificate it
// serves, made with openssl. Both run in the caller's network namespace; the server is stopped
// by its pid when the object goes.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace cxtest {

// A key and a certificate for `ip` (subjectAltName IP), made by openssl in a fresh temporary
// directory, removed by the destructor.
class test_certificate {
public:
    explicit test_certificate(const std::string& ip);
    ~test_certificate();
    test_certificate(const test_certificate&) = delete;
    test_certificate& operator=(const test_certificate&) = delete;

    bool ok() const { return ok_; }
    const std::string& cert() const { return cert_; }
    const std::string& key() const { return key_; }
    const std::string& dir() const { return dir_; }
    const std::string& error() const { return error_; }

private:
    std::string dir_, cert_, key_, error_;
    bool ok_ = false;
};

class python_http_server {
public:
    // Listens on `ip`, HTTP and HTTPS, on ports the kernel picks.
    python_http_server(const std::string& script, const std::string& ip,
                       const test_certificate& cert);
    ~python_http_server();
    python_http_server(const python_http_server&) = delete;
    python_http_server& operator=(const python_http_server&) = delete;

    bool ok() const { return http_port_ != 0; }
    uint16_t http_port() const { return http_port_; }
    uint16_t https_port() const { return https_port_; }
    const std::string& error() const { return error_; }

private:
    pid_t pid_ = -1;
    uint16_t http_port_ = 0, https_port_ = 0;
    std::string error_;
};

}  // namespace cxtest
