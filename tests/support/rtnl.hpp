// rtnl.hpp - the few rtnetlink operations the test harness needs (libmnl): bring a link up, add an
// address (IPv6 without duplicate address detection), create a dummy interface, add a route with a
// preferred source to a table, add a policy rule (without iproute2, which the kernel-matrix guest
// has only as busybox's, without ipproto, port or uid selectors).
#pragma once

#include <string>

namespace cxtest {

// Each returns 0 or an errno.
int link_up(const char* ifname);
int add_address(const char* ifname, const char* ip, int prefix_len);  // "127.0.0.2", "2001:db8::1"
int add_dummy(const char* ifname);
int add_veth_pair(const char* a, const char* b);

// "ip route add PREFIX/LEN dev IFNAME src SRC table TABLE" (IPv4).
int add_route_v4(const char* prefix, int len, const char* ifname, const char* src, int table);

// "ip rule add [ipproto P] [sport S] [dport D] [dsfield T] [uidrange U-U] [fwmark M] table T"
// (IPv4); a zero selector is left out.
struct rule_v4 {
    int table = 0;
    int ipproto = 0;
    int sport = 0;
    int dport = 0;
    int tos = 0;
    int uid = -1;  // -1: no uidrange
    unsigned fwmark = 0;
};
int add_rule_v4(const rule_v4& r);

}  // namespace cxtest
