// rtnl.hpp - the few rtnetlink requests the stress tool and the test harness make, built with
// libmnl: bring a link up, add an address, create a link. Each acts on the calling process's
// network namespace and returns 0 or an errno (the kernel's, from its netlink ack).
#pragma once

#include <linux/netlink.h>

namespace cxcommon {

// Sends one request with NLM_F_ACK (sequence number and flags are set here) and waits for the
// acknowledgement.
int rtnl_transact(nlmsghdr* nlh);

int link_up(unsigned ifindex);

// `addr` is 4 bytes for AF_INET, 16 for AF_INET6, in network order. The address is added without
// duplicate address detection, so an IPv6 one is usable at once rather than tentative.
int add_address(unsigned ifindex, int family, const void* addr, int prefix_len);

// A new link of `kind` ("dummy", "veth"); for a veth pair `peer` names the other end, else null.
int add_link(const char* ifname, const char* kind, const char* peer);

}  // namespace cxcommon
