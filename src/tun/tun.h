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

#include <stddef.h>
#include <stdint.h>

/* Far below the kernel's MAX_TAP_QUEUES (256); one RX reader per queue. */
#define TUN_MAX_QUEUES 64

struct tun_config {
	const char *name;      /* interface name, e.g. "tun0" */
	unsigned queues;       /* >= 1, <= TUN_MAX_QUEUES */
	unsigned mtu;          /* e.g. 1500 */
	uint32_t peer_addr;    /* kernel-side address, host byte order, e.g. 10.0.0.1 */
	uint8_t peer_prefix;   /* e.g. 24 */
	const char *tun_path;  /* NULL = "/dev/net/tun" (tests point it elsewhere) */
	unsigned txqueuelen;   /* packets the kernel queues per queue for us; 0: keep */
};

struct tun_dev {
	char name[16];           /* IFNAMSIZ; the name the kernel really used */
	unsigned nqueues;
	int fds[TUN_MAX_QUEUES]; /* one per queue, O_NONBLOCK|O_CLOEXEC */
	int ifindex;
};

/*
 * Create (or attach to an existing multi-queue TUN device of that name) with
 * IFF_TUN|IFF_NO_PI|IFF_MULTI_QUEUE, one open()+TUNSETIFF per queue; set the
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
