// SPDX-License-Identifier: GPL-2.0
/*
 * partcp's C shim. See partcp_shim.h for why each function exists.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/socket.h>
#include <linux/in.h>
#include <net/sock.h>

#include "partcp_shim.h"

static int family = PARTCP_DEFAULT_FAMILY;
module_param(family, int, 0444);
MODULE_PARM_DESC(family,
		 "Address family number to register AF_PARTCP as (default 22, the unimplemented AF_SNA slot)");

int partcp_param_family(void)
{
	return family;
}

/*
 * The Rust side's per-socket state hangs off @priv; the struct sock itself is
 * managed by the core socket layer (refcounted, freed by sk_free()).
 */
struct partcp_sock {
	struct sock sk;
	void *priv;
};

static struct proto partcp_proto = {
	.name = "PARTCP",
	.owner = THIS_MODULE,
	.obj_size = sizeof(struct partcp_sock),
};

int partcp_proto_register(void)
{
	return proto_register(&partcp_proto, 0);
}

void partcp_proto_unregister(void)
{
	proto_unregister(&partcp_proto);
}

struct sock *partcp_sk_alloc(struct net *net, struct socket *sock, int family,
			     int kern)
{
	struct sock *sk;

	sk = sk_alloc(net, family, GFP_KERNEL, &partcp_proto, kern);
	if (!sk)
		return NULL;
	sock_init_data(sock, sk);
	sk->sk_protocol = IPPROTO_TCP;
	((struct partcp_sock *)sk)->priv = NULL;
	return sk;
}

void partcp_sk_release(struct sock *sk)
{
	sock_orphan(sk);
	sock_put(sk);
}

void *partcp_sk_priv(const struct sock *sk)
{
	return ((const struct partcp_sock *)sk)->priv;
}

void partcp_sk_set_priv(struct sock *sk, void *priv)
{
	((struct partcp_sock *)sk)->priv = priv;
}
