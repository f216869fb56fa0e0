// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * guard.bpf.c - cgroup connect4/connect6 programs that refuse a UDP connect()
 * whose exact 4-tuple is already held by another ESTABLISHED (connected) socket.
 *
 * UDP connect() does no 4-tuple uniqueness check: with SO_REUSEADDR two
 * connected sockets can share one, and unicast then goes to the newer while the
 * older starves silently. These programs run before the kernel's connect and
 * ask the receive-path lookup "which socket would a datagram from the
 * destination to our bound local end reach?". A connected socket other than
 * this one answering that is the duplicate: return 0 and connect() gets EPERM.
 *
 * What cannot be seen here (see docs/guard.md): a socket without an explicit
 * local address and port (the kernel picks them after this hook), device-bound
 * sockets (the helper looks up with no interface, so they never match), and
 * two connects racing on different CPUs (both look before either connects).
 */
#include <linux/bpf.h>
#include <linux/in.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

/* From <sys/socket.h>, which is libc, not UAPI: stable kernel ABI values. */
#define AF_INET 2
#define AF_INET6 10
#define SOCK_DGRAM 2

#define ALLOW 1
#define REFUSE 0 /* connect() fails with EPERM */

/* bpf_sock.state for a connected UDP socket (TCP_ESTABLISHED). */
#define SK_ESTABLISHED 1

/* Counter slots; the loader (src/guard.cpp) reads them by these indices. */
enum {
	STAT_CHECKED = 0, /* UDP connect with explicit local end: looked up */
	STAT_REFUSED = 1, /* ... and refused: the 4-tuple was taken */
	STAT_SKIPPED = 2, /* UDP connect the guard cannot check (no local end) */
	STAT_MAX = 3,
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} connectx_stats SEC(".maps");

static __always_inline void count(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&connectx_stats, &slot);

	/*
	 * Atomic although per-CPU: programs run with migration, not
	 * preemption, disabled, so another task may run this one on the
	 * same CPU in the middle of a plain increment.
	 */
	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline int is_udp(const struct bpf_sock_addr *ctx)
{
	return ctx->type == SOCK_DGRAM && ctx->protocol == IPPROTO_UDP;
}

/*
 * Decide from a lookup result. The receive-path lookup returns an
 * unconnected socket only when no connected one matches exactly, and a
 * connected socket only when its peer is exactly our destination, so "found,
 * ESTABLISHED and not us" is the duplicate. It can be us when an already
 * connected socket reconnects to the same peer.
 */
static __always_inline int verdict(struct bpf_sock_addr *ctx,
				   struct bpf_sock *found)
{
	int taken;

	count(STAT_CHECKED);
	if (!found)
		return ALLOW;
	taken = found->state == SK_ESTABLISHED && found != ctx->sk;
	bpf_sk_release(found);
	if (!taken)
		return ALLOW;
	count(STAT_REFUSED);
	return REFUSE;
}

/* The socket's bound IPv4 address, also for a dual-stack socket bound to a
 * v4-mapped address. 0 when it has none we can use (unbound, wildcard, or
 * an IPv6 socket bound to a real IPv6 address). */
static __always_inline __be32 local_ip4(const struct bpf_sock *sk)
{
	__u32 family = sk->family;
	__be32 ip4 = sk->src_ip4;
	__be32 mapped = sk->src_ip6[3];

	/*
	 * Both loads happen before the choice: left to itself clang picks
	 * the field address first and loads once, and the verifier refuses
	 * pointer arithmetic on a socket.
	 */
	barrier_var(ip4);
	barrier_var(mapped);
	if (family == AF_INET)
		return ip4;
	/* AF_INET6: src_ip4 would read 127.0.0.6 for non-mapped binds. */
	if (sk->src_ip6[0] == 0 && sk->src_ip6[1] == 0 &&
	    sk->src_ip6[2] == bpf_htonl(0xffff))
		return mapped;
	return 0;
}

/* Look up the IPv4 4-tuple dst_ip:dst_port -> our bound end. */
static __always_inline int check4(struct bpf_sock_addr *ctx, __be32 dst_ip,
				  __be16 dst_port)
{
	struct bpf_sock *sk = ctx->sk;
	struct bpf_sock_tuple t = {};
	__be32 src_ip = local_ip4(sk);
	__u32 src_port = sk->src_port; /* host order */

	if (src_ip == 0 || src_port == 0) {
		count(STAT_SKIPPED);
		return ALLOW;
	}
	/* Receive-path view: the remote end is the "source". */
	t.ipv4.saddr = dst_ip;
	t.ipv4.sport = dst_port;
	t.ipv4.daddr = src_ip;
	t.ipv4.dport = bpf_htons((__u16)src_port);
	return verdict(ctx, bpf_sk_lookup_udp(ctx, &t, sizeof(t.ipv4),
					      BPF_F_CURRENT_NETNS, 0));
}

SEC("cgroup/connect4")
int connectx_guard4(struct bpf_sock_addr *ctx)
{
	if (!is_udp(ctx))
		return ALLOW;
	/* Also reached by an IPv6 socket given an AF_INET sockaddr. */
	return check4(ctx, ctx->user_ip4, (__be16)ctx->user_port);
}

SEC("cgroup/connect6")
int connectx_guard6(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk;
	struct bpf_sock_tuple t = {};
	__u32 src_port;

	if (!is_udp(ctx))
		return ALLOW;
	/* A v4-mapped destination: the conflict lives in the IPv4 table. */
	if (ctx->user_ip6[0] == 0 && ctx->user_ip6[1] == 0 &&
	    ctx->user_ip6[2] == bpf_htonl(0xffff))
		return check4(ctx, ctx->user_ip6[3], (__be16)ctx->user_port);

	sk = ctx->sk;
	src_port = sk->src_port;
	if (src_port == 0 || (sk->src_ip6[0] == 0 && sk->src_ip6[1] == 0 &&
			      sk->src_ip6[2] == 0 && sk->src_ip6[3] == 0)) {
		count(STAT_SKIPPED);
		return ALLOW;
	}
	t.ipv6.saddr[0] = ctx->user_ip6[0];
	t.ipv6.saddr[1] = ctx->user_ip6[1];
	t.ipv6.saddr[2] = ctx->user_ip6[2];
	t.ipv6.saddr[3] = ctx->user_ip6[3];
	t.ipv6.sport = (__be16)ctx->user_port;
	t.ipv6.daddr[0] = sk->src_ip6[0];
	t.ipv6.daddr[1] = sk->src_ip6[1];
	t.ipv6.daddr[2] = sk->src_ip6[2];
	t.ipv6.daddr[3] = sk->src_ip6[3];
	t.ipv6.dport = bpf_htons((__u16)src_port);
	return verdict(ctx, bpf_sk_lookup_udp(ctx, &t, sizeof(t.ipv6),
					      BPF_F_CURRENT_NETNS, 0));
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
