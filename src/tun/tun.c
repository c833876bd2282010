/*
 * tun.c — create and configure tundra's multi-queue TUN device.
 *
 * Kernel reference: Documentation/networking/tuntap.rst. The sequence is
 *   for each queue: open("/dev/net/tun") + TUNSETIFF(name, flags)
 *   then over rtnetlink: MTU, IFF_UP, RTM_NEWADDR peer_addr/peer_prefix.
 * The first TUNSETIFF creates the device (needs CAP_NET_ADMIN in the
 * network namespace's user namespace) or attaches to an existing one of the
 * same name; the following ones add queues (drivers/net/tun.c tun_attach).
 * No TUNSETPERSIST: the device goes away with the last queue fd.
 *
 * Errors are turned into one line a person can act on, because the usual
 * causes (no tun module, no CAP_NET_ADMIN, the name taken by another kind of
 * device) all come back from the kernel as a bare EPERM, ENOENT or EINVAL.
 */
#include "tun/tun.h"
#include "tun/netlink.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <net/if.h>
#include <linux/if_arp.h>
#include <linux/if_tun.h>

#define TUN_DEFAULT_PATH "/dev/net/tun"

/*
 * The TUNSETIFF flags every queue is attached with. All queues of a
 * multi-queue device must agree on them (tun_set_iff rejects a mismatch of
 * IFF_MULTI_QUEUE with EINVAL); IFF_VNET_HDR asks for offloads, which
 * tun_set_offload() then turns on.
 */
static short tun_ifr_flags(bool vnet_hdr)
{
	return (short)(IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE |
		       (vnet_hdr ? IFF_VNET_HDR : 0));
}

/*
 * The virtio header's size and the offloads we take: checksums (the
 * kernel may leave a TCP checksum partial, and accepts ours partial) and
 * TCPv4 segmentation both ways. Not TUN_F_TSO6 (tundra has no IPv6), nor
 * TUN_F_TSO_ECN (tundra does not negotiate ECN), nor UDP. Both settings
 * belong to the device, so one queue's fd is enough. 0 or -errno.
 */
static int tun_set_offload(int fd)
{
	int sz = TUN_VNET_HDR_LEN;

	if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0)
		return -errno;
	if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM | TUN_F_TSO4)) <
	    0)
		return -errno;
	return 0;
}

__attribute__((format(printf, 3, 4)))
static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* e is a positive errno. GNU strerror_r: thread-safe, may ignore buf. */
static const char *errstr(int e, char *buf, size_t len)
{
	return strerror_r(e, buf, len);
}

static const char *open_hint(int e)
{
	switch (e) {
	case ENOENT:
	case ENODEV:
	case ENXIO:
		return " (is the tun module loaded?)";
	case EACCES:
	case EPERM:
		return " (no permission on the device node)";
	case EMFILE:
	case ENFILE:
		return " (too many open files)";
	default:
		return "";
	}
}

/* Name what an existing link of the wanted name really is. */
static void describe_link(const struct tun_nl_link *l, char *buf, size_t len)
{
	if (l->has_tun_info) {
		const char *mq = l->tun_multi_queue ? "multi-queue" : "single-queue";

		if (l->tun_type == IFF_TAP)
			snprintf(buf, len, "a %s TAP device", mq);
		else
			snprintf(buf, len, "a %s TUN device", mq);
	} else if (l->kind[0]) {
		snprintf(buf, len, "a %s device", l->kind);
	} else if (l->type == ARPHRD_LOOPBACK) {
		snprintf(buf, len, "the loopback device");
	} else if (l->type == ARPHRD_ETHER) {
		snprintf(buf, len, "an Ethernet device");
	} else {
		snprintf(buf, len, "a device of link type %u", l->type);
	}
}

static bool link_is_mq_tun(const struct tun_nl_link *l)
{
	return l->has_tun_info && l->tun_type == IFF_TUN && l->tun_multi_queue;
}

/*
 * The first TUNSETIFF failed with -e. Find out whether the name belongs to
 * an existing link, and say why it failed in the terms of that situation.
 */
static void explain_setiff(struct tun_nl *nl, const char *name, int e,
			   char *err, size_t errlen)
{
	struct tun_nl_link l;
	char eb[128], what[64];
	const char *es = errstr(e, eb, sizeof(eb));

	if (tun_nl_get_link(nl, name, &l) != 0) {
		/* No such link (or we cannot tell): we were creating it. */
		errf(err, errlen, "cannot create TUN device %s: %s%s", name, es,
		     e == EPERM || e == EACCES ? " (needs CAP_NET_ADMIN)" : "");
		return;
	}
	/*
	 * tun_set_iff() returns EINVAL when the name is not a TUN device or
	 * its IFF_MULTI_QUEUE differs from ours.
	 */
	if ((e == EINVAL || e == EBUSY) && !link_is_mq_tun(&l)) {
		describe_link(&l, what, sizeof(what));
		errf(err, errlen,
		     "device %s exists and is not a multi-queue TUN device (it is %s)",
		     name, what);
		return;
	}
	errf(err, errlen, "cannot attach to TUN device %s: %s%s", name, es,
	     e == EPERM || e == EACCES ?
		     " (owned by another user or group, or needs CAP_NET_ADMIN)" :
		     "");
}

/*
 * Open one queue fd and attach it to the device. name is in/out: the kernel
 * writes back the name it used (it expands a "%d" pattern). Returns the fd
 * or -errno; *stage tells the caller which step failed.
 */
enum attach_stage { STAGE_OPEN, STAGE_SETIFF };

static int tun_attach_queue(const char *path, char name[IFNAMSIZ], short flags,
			    enum attach_stage *stage)
{
	struct ifreq ifr;
	int fd, e;

	*stage = STAGE_OPEN;
	/* O_NONBLOCK: the RX thread polls every queue; it must never block. */
	fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;

	*stage = STAGE_SETIFF;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, name, IFNAMSIZ);
	ifr.ifr_flags = flags;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		e = -errno;
		close(fd);
		return e;
	}
	memcpy(name, ifr.ifr_name, IFNAMSIZ);
	name[IFNAMSIZ - 1] = '\0';
	return fd;
}

static void tun_reset(struct tun_dev *dev)
{
	unsigned i;

	memset(dev, 0, sizeof(*dev));
	for (i = 0; i < TUN_MAX_QUEUES; i++)
		dev->fds[i] = -1;
}

/*
 * tundra speaks IPv4 only: keep the kernel from giving the device an IPv6
 * link-local address and sending it router solicitations and MLD reports,
 * which tundra would only count as drops. Best effort: a kernel without
 * IPv6 has no such file, and nothing depends on it.
 */
static void disable_ipv6(const char *name)
{
	char path[96];
	int fd;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6",
		 name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	(void)!write(fd, "1", 1);
	close(fd);
}

int tun_open(struct tun_dev *dev, const struct tun_config *cfg, char *err,
	     size_t errlen)
{
	const char *path = cfg->tun_path ? cfg->tun_path : TUN_DEFAULT_PATH;
	bool vnet = cfg->offload != TUN_OFFLOAD_OFF;
	short flags;
	char name[IFNAMSIZ];
	char eb[128];
	struct tun_nl nl;
	struct tun_nl_link link;
	uint32_t a = cfg->peer_addr;
	unsigned i;
	int rc;

	tun_reset(dev);
	if (err && errlen)
		err[0] = '\0';

	if (!cfg->name || !cfg->name[0]) {
		errf(err, errlen, "no TUN device name given");
		return -EINVAL;
	}
	if (strlen(cfg->name) >= IFNAMSIZ) {
		errf(err, errlen,
		     "TUN device name %s is too long (at most %d characters)",
		     cfg->name, IFNAMSIZ - 1);
		return -EINVAL;
	}
	if (cfg->queues < 1 || cfg->queues > TUN_MAX_QUEUES) {
		errf(err, errlen, "cannot use %u queues on %s (1 to %d)",
		     cfg->queues, cfg->name, TUN_MAX_QUEUES);
		return -EINVAL;
	}
	if (cfg->peer_prefix > 32) {
		errf(err, errlen, "invalid prefix length /%u for %s",
		     cfg->peer_prefix, cfg->name);
		return -EINVAL;
	}

	/*
	 * Open rtnetlink first: it is needed to explain a failed TUNSETIFF,
	 * and it is in the same network namespace the device is created in
	 * (both follow the calling thread's namespace).
	 */
	rc = tun_nl_open(&nl);
	if (rc) {
		errf(err, errlen, "cannot open rtnetlink socket: %s",
		     errstr(-rc, eb, sizeof(eb)));
		return rc;
	}

again:
	flags = tun_ifr_flags(vnet);
	memset(name, 0, sizeof(name));
	memcpy(name, cfg->name, strlen(cfg->name));
	for (i = 0; i < cfg->queues; i++) {
		enum attach_stage stage;
		int fd = tun_attach_queue(path, name, flags, &stage);

		if (fd >= 0) {
			dev->fds[i] = fd;
			dev->nqueues = i + 1;
			continue;
		}
		rc = fd;
		if (stage == STAGE_OPEN)
			errf(err, errlen, "cannot open %s: %s%s", path,
			     errstr(-rc, eb, sizeof(eb)), open_hint(-rc));
		else if (i == 0)
			explain_setiff(&nl, name, -rc, err, errlen);
		else
			errf(err, errlen,
			     "cannot attach queue %u of %u to TUN device %s: %s",
			     i + 1, cfg->queues, name,
			     errstr(-rc, eb, sizeof(eb)));
		if (vnet && cfg->offload == TUN_OFFLOAD_AUTO && i == 0 &&
		    stage == STAGE_SETIFF && rc == -EINVAL) {
			/* A kernel without IFF_VNET_HDR: go plain. */
			snprintf(dev->offload_why, sizeof(dev->offload_why),
				 "TUNSETIFF with IFF_VNET_HDR: %s",
				 errstr(-rc, eb, sizeof(eb)));
			vnet = false;
			goto again;
		}
		goto fail;
	}
	memcpy(dev->name, name, sizeof(dev->name));

	if (vnet) {
		rc = tun_set_offload(dev->fds[0]);
		if (rc && cfg->offload == TUN_OFFLOAD_ON) {
			errf(err, errlen,
			     "the kernel refused offloads on %s: %s (offload = off runs without them)",
			     name, errstr(-rc, eb, sizeof(eb)));
			goto fail;
		}
		if (rc) {
			/*
			 * AUTO: start over without IFF_VNET_HDR. Closing
			 * every queue removes a device we created; one we
			 * attached to stays and is attached to again.
			 */
			char why[sizeof(dev->offload_why)];

			snprintf(why, sizeof(why), "TUNSETOFFLOAD: %s",
				 errstr(-rc, eb, sizeof(eb)));
			tun_close(dev);
			tun_reset(dev);
			memcpy(dev->offload_why, why, sizeof(why));
			vnet = false;
			goto again;
		}
	}
	dev->vnet_hdr = vnet;

	rc = tun_nl_get_link(&nl, name, &link);
	if (rc) {
		errf(err, errlen, "cannot look up TUN device %s: %s", name,
		     errstr(-rc, eb, sizeof(eb)));
		goto fail;
	}
	dev->ifindex = link.ifindex;

	rc = tun_nl_set_mtu(&nl, dev->ifindex, cfg->mtu);
	if (rc) {
		errf(err, errlen, "cannot set MTU %u on %s: %s", cfg->mtu, name,
		     errstr(-rc, eb, sizeof(eb)));
		goto fail;
	}

	/*
	 * The kernel queues what it sends us in a ring per queue of
	 * txqueuelen packets and drops when it is full (there is no
	 * back-pressure to the sending socket). TCP Small Queues lets each
	 * kernel flow keep up to tcp_limit_output_bytes (1 MiB) queued, so
	 * the default of 500 packets drops as soon as a few flows burst.
	 */
	if (cfg->txqueuelen) {
		rc = tun_nl_set_txqlen(&nl, dev->ifindex, cfg->txqueuelen);
		if (rc) {
			errf(err, errlen, "cannot set txqueuelen %u on %s: %s",
			     cfg->txqueuelen, name,
			     errstr(-rc, eb, sizeof(eb)));
			goto fail;
		}
	}
	disable_ipv6(name);

	rc = tun_nl_set_up(&nl, dev->ifindex);
	if (rc) {
		errf(err, errlen, "cannot bring %s up: %s", name,
		     errstr(-rc, eb, sizeof(eb)));
		goto fail;
	}

	/*
	 * EEXIST: the same address and prefix is already on the device, put
	 * there by whoever created it or by an earlier tun_open() on it. That
	 * is the state we want.
	 */
	rc = tun_nl_add_addr4(&nl, dev->ifindex, a, cfg->peer_prefix);
	if (rc && rc != -EEXIST) {
		errf(err, errlen, "cannot add address %u.%u.%u.%u/%u to %s: %s",
		     a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff,
		     cfg->peer_prefix, name, errstr(-rc, eb, sizeof(eb)));
		goto fail;
	}

	tun_nl_close(&nl);
	return 0;

fail:
	tun_nl_close(&nl);
	tun_close(dev);
	tun_reset(dev);
	return rc;
}

void tun_close(struct tun_dev *dev)
{
	unsigned i;

	/* Bounded by nqueues so a zeroed, never-opened dev closes nothing. */
	for (i = 0; i < dev->nqueues && i < TUN_MAX_QUEUES; i++) {
		if (dev->fds[i] >= 0)
			close(dev->fds[i]);
		dev->fds[i] = -1;
	}
	dev->nqueues = 0;
}
