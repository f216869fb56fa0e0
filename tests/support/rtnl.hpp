// rtnl.hpp - the few rtnetlink operations the test harness needs (libmnl): bring a link up, add an
// address (IPv6 without duplicate address detection), create a dummy interface.
#pragma once

#include <string>

namespace cxtest {

// Each returns 0 or an errno.
int link_up(const char* ifname);
int add_address(const char* ifname, const char* ip, int prefix_len);  // "127.0.0.2", "2001:db8::1"
int add_dummy(const char* ifname);
int add_veth_pair(const char* a, const char* b);

}  // namespace cxtest
