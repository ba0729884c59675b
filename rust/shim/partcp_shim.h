/* SPDX-License-Identifier: GPL-2.0 */
/*
 * partcp's C shim: the few kernel facilities Rust cannot reach through the
 * `kernel` crate or its bindings (macros, static inlines, and struct types
 * missing from the 7.3 bindings, such as `struct proto`). Every function here
 * is a thin wrapper; all logic lives in Rust. Declarations are mirrored in
 * rust/glue/shim.rs.
 */
#ifndef PARTCP_SHIM_H
#define PARTCP_SHIM_H

struct net;
struct sock;
struct socket;

/*
 * Default address family number. 22 is AF_SNA ("Linux SNA Project"), a slot
 * reserved in include/linux/socket.h that no kernel has ever implemented; it is
 * below AF_MAX, as sock_register() requires. Override with `family=`.
 */
#define PARTCP_DEFAULT_FAMILY 22

/* Module parameters (declared in C so that they appear in sysfs, 0444). */
int partcp_param_family(void);

/* struct proto registration (struct proto is not in the Rust bindings). */
int partcp_proto_register(void);
void partcp_proto_unregister(void);

/*
 * Allocates a struct sock of partcp's proto for @sock (sk_alloc +
 * sock_init_data). Takes a reference on this module for the sock's lifetime.
 * Returns NULL on allocation failure.
 */
struct sock *partcp_sk_alloc(struct net *net, struct socket *sock, int family,
			     int kern);
/* Detaches @sk from its socket and drops the socket's reference (sock_orphan + sock_put). */
void partcp_sk_release(struct sock *sk);
/* Per-sock private pointer owned by the Rust side. */
void *partcp_sk_priv(const struct sock *sk);
void partcp_sk_set_priv(struct sock *sk, void *priv);

#endif /* PARTCP_SHIM_H */
