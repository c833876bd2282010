/*
 * tun.h — the TUN device: one multi-queue IFF_TUN device, one fd per queue.
 *
 * Kernel reference: Documentation/networking/tuntap.rst ("Multiqueue tuntap
 * interface"). Every queue is its own open() of /dev/net/tun followed by
 * TUNSETIFF with the same name and IFF_MULTI_QUEUE; the kernel picks the
 * receive queue by flow hash and learns a flow's queue from the queue
 * userspace last wrote it on (see DESIGN.md).
 *
 * The device is not persistent: it disappears when its last queue fd is
 * closed, i.e. when tundra exits, however it exits.
 */
#ifndef TUNDRA_TUN_TUN_H
#define TUNDRA_TUN_TUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Far below the kernel's MAX_TAP_QUEUES (256); one RX reader per queue. */
#define TUN_MAX_QUEUES 64

/*
 * Offloads (drivers/net/tun.c, include/linux/virtio_net.h): with
 * IFF_VNET_HDR every read and write on a queue fd starts with a 10-byte
 * struct virtio_net_hdr (TUN_VNET_HDR_LEN; the 12-byte mergeable-buffer
 * form is for virtio rings, not needed here). TUNSETOFFLOAD(TUN_F_CSUM |
 * TUN_F_TSO4) then lets the kernel hand us TCP super-packets of up to
 * 64 KB with the checksum left partial, and accept the same from us. The
 * flag, the header size and the offloads are properties of the device,
 * not of one queue: attaching to an existing device changes them for
 * every queue of it.
 */
enum tun_offload {
	TUN_OFFLOAD_OFF = 0, /* plain IFF_TUN (the zero value) */
	TUN_OFFLOAD_AUTO,    /* try; fall back to plain when refused */
	TUN_OFFLOAD_ON,      /* fail when refused */
};

#define TUN_VNET_HDR_LEN 10

struct tun_config {
	const char *name;      /* interface name, e.g. "tun0" */
	unsigned queues;       /* >= 1, <= TUN_MAX_QUEUES */
	unsigned mtu;          /* e.g. 1500 */
	uint32_t peer_addr;    /* kernel-side address, host byte order, e.g. 10.0.0.1 */
	uint8_t peer_prefix;   /* e.g. 24 */
	const char *tun_path;  /* NULL = "/dev/net/tun" (tests point it elsewhere) */
	unsigned txqueuelen;   /* packets the kernel queues per queue for us; 0: keep */
	enum tun_offload offload;
};

struct tun_dev {
	char name[16];           /* IFNAMSIZ; the name the kernel really used */
	unsigned nqueues;
	int fds[TUN_MAX_QUEUES]; /* one per queue, O_NONBLOCK|O_CLOEXEC */
	int ifindex;
	/* Offloads are on: every read and write carries a virtio_net_hdr. */
	bool vnet_hdr;
	/* Why AUTO fell back to plain, for the log ("" when it did not). */
	char offload_why[96];
};

/*
 * Create (or attach to an existing multi-queue TUN device of that name) with
 * IFF_TUN|IFF_NO_PI|IFF_MULTI_QUEUE (| IFF_VNET_HDR with offloads), one
 * open()+TUNSETIFF per queue, then TUNSETVNETHDRSZ + TUNSETOFFLOAD; set the
 * MTU, bring the link up and add peer_addr/peer_prefix as the kernel-side
 * address over rtnetlink (an address that already exists is fine).
 *
 * Returns 0, or -errno with every fd closed, dev left closed (tun_close() on
 * it is a no-op) and one human-readable line, without a newline, in err.
 * err may be NULL or errlen 0.
 */
int tun_open(struct tun_dev *dev, const struct tun_config *cfg, char *err,
	     size_t errlen);

/*
 * Close all queue fds (a non-persistent device disappears with its last fd).
 * Idempotent; also a no-op on a zero-initialised tun_dev.
 */
void tun_close(struct tun_dev *dev);

#endif /* TUNDRA_TUN_TUN_H */
