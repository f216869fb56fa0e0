// consumer.cpp - a C++ program built with find_package(connectx) against the installed package.
#include <cerrno>
#include <connectx/connectx.hpp>
#include <cstdio>

int main() {
    auto dst = cx::address::parse("[2001:db8::1]:443");
    if (!dst || dst->to_string() != "[2001:db8::1]:443") return 1;
    auto r = cx::connect(-1, std::nullopt, *dst);
    if (r || r.error().value() != EBADF) return 1;
    std::printf("%s\n", r.error().message().c_str());
    return 0;
}
