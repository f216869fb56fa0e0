// rtnl.cpp - the harness's rtnetlink calls by name: interface names become indexes, address
// strings become bytes; the requests themselves are tools/common/rtnl.cpp's.
#include "rtnl.hpp"

#include <arpa/inet.h>
#include <net/if.h>

#include <cerrno>
#include <cstring>

#include "tools/common/rtnl.hpp"

namespace cxtest {

int link_up(const char* ifname) {
    unsigned idx = if_nametoindex(ifname);
    if (!idx) return ENODEV;
    return cxcommon::link_up(idx);
}

int add_address(const char* ifname, const char* ip, int prefix_len) {
    unsigned idx = if_nametoindex(ifname);
    if (!idx) return ENODEV;
    unsigned char addr[16];
    int family = strchr(ip, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(family, ip, addr) != 1) return EINVAL;
    return cxcommon::add_address(idx, family, addr, prefix_len);
}

int add_dummy(const char* ifname) {
    return cxcommon::add_link(ifname, "dummy", nullptr);
}
int add_veth_pair(const char* a, const char* b) {
    return cxcommon::add_link(a, "veth", b);
}

}  // namespace cxtest
