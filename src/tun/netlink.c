/*
 * netlink.c — minimal rtnetlink client for the TUN layer (see netlink.h).
 *
 * Message layout follows rtnetlink(7): struct nlmsghdr, then the family
 * header (ifinfomsg / ifaddrmsg), then NLA_ALIGNed attributes. Every
 * request that expects no data carries NLM_F_ACK so the kernel answers with
 * an NLMSG_ERROR whose error field is 0 or -errno.
 */
#include "tun/netlink.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

/* Requests are tiny; replies to RTM_GETLINK with stats skipped are ~2 KiB. */
#define NL_REQ_SIZE 512
#define NL_BUF_SIZE 16384

/* rtnetlink answers synchronously; this only bounds a lost reply. */
#define NL_TIMEOUT_S 5

struct nl_req {
	struct nlmsghdr n;
	union {
		struct ifinfomsg ifi;
		struct ifaddrmsg ifa;
	};
	char attrs[NL_REQ_SIZE];
};

/*
 * Append one attribute. Takes the whole request (not its nlmsghdr) so the
 * compiler's object-size checks see the real buffer.
 */
static int nl_put(struct nl_req *req, unsigned short type, const void *data,
		  size_t len)
{
	struct nlmsghdr *n = &req->n;
	size_t off = NLMSG_ALIGN(n->nlmsg_len);
	struct rtattr *rta;

	if (off + RTA_SPACE(len) > sizeof(*req))
		return -EMSGSIZE;
	rta = (struct rtattr *)((char *)req + off);
	rta->rta_type = type;
	rta->rta_len = RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(rta), data, len);
	n->nlmsg_len = off + RTA_ALIGN(rta->rta_len);
	return 0;
}

int tun_nl_open(struct tun_nl *nl)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct timeval tv = { .tv_sec = NL_TIMEOUT_S };
	int fd;

	nl->fd = -1;
	nl->seq = 0;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	/* nl_pid 0: let the kernel pick a unique port id for this socket. */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	/* Extended ACKs are not parsed; errno is what we report. */
	nl->fd = fd;
	return 0;
}

void tun_nl_close(struct tun_nl *nl)
{
	if (nl->fd >= 0)
		close(nl->fd);
	nl->fd = -1;
}

/*
 * Send req and wait for the answer to it. With reply == NULL the request is
 * sent with NLM_F_ACK and the result is the ack's error (0 or -errno).
 * Otherwise *reply points at the first non-error message with our sequence
 * number, inside buf.
 */
static int nl_talk(struct tun_nl *nl, struct nlmsghdr *req, char *buf,
		   size_t cap, struct nlmsghdr **reply)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	uint32_t seq = ++nl->seq;
	ssize_t n;

	req->nlmsg_seq = seq;
	req->nlmsg_flags |= NLM_F_REQUEST;
	if (!reply)
		req->nlmsg_flags |= NLM_F_ACK;

	do {
		n = sendto(nl->fd, req, req->nlmsg_len, 0,
			   (struct sockaddr *)&kernel, sizeof(kernel));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;

	for (;;) {
		struct sockaddr_nl from;
		struct iovec iov = { .iov_base = buf, .iov_len = cap };
		struct msghdr mh = {
			.msg_name = &from,
			.msg_namelen = sizeof(from),
			.msg_iov = &iov,
			.msg_iovlen = 1,
		};
		struct nlmsghdr *h;

		n = recvmsg(nl->fd, &mh, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		if (mh.msg_flags & MSG_TRUNC)
			return -EMSGSIZE;
		/* Only the kernel (port 0) may answer; ignore anyone else. */
		if (from.nl_pid != 0)
			continue;

		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != seq)
				continue;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
					return -EPROTO;
				if (e->error || !reply)
					return e->error;
				continue;
			}
			if (h->nlmsg_type == NLMSG_NOOP ||
			    h->nlmsg_type == NLMSG_DONE)
				continue;
			if (reply) {
				*reply = h;
				return 0;
			}
		}
	}
}

static void parse_tun_info(const struct rtattr *data, struct tun_nl_link *out)
{
	int len = RTA_PAYLOAD(data);
	const struct rtattr *a;

	for (a = RTA_DATA(data); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		switch (a->rta_type & NLA_TYPE_MASK) {
		case IFLA_TUN_TYPE:
			if (RTA_PAYLOAD(a) >= 1) {
				out->tun_type = *(const uint8_t *)RTA_DATA(a);
				out->has_tun_info = true;
			}
			break;
		case IFLA_TUN_MULTI_QUEUE:
			if (RTA_PAYLOAD(a) >= 1)
				out->tun_multi_queue =
					*(const uint8_t *)RTA_DATA(a);
			break;
		}
	}
}

static void parse_linkinfo(const struct rtattr *info, struct tun_nl_link *out)
{
	int len = RTA_PAYLOAD(info);
	const struct rtattr *a;
	const struct rtattr *data = NULL;

	for (a = RTA_DATA(info); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		switch (a->rta_type & NLA_TYPE_MASK) {
		case IFLA_INFO_KIND: {
			size_t n = RTA_PAYLOAD(a);

			if (n >= sizeof(out->kind))
				n = sizeof(out->kind) - 1;
			memcpy(out->kind, RTA_DATA(a), n);
			out->kind[n] = '\0';
			break;
		}
		case IFLA_INFO_DATA:
			data = a;
			break;
		}
	}
	/* IFLA_TUN_* exist since Linux 4.15 (drivers/net/tun.c tun_fill_info). */
	if (data && !strcmp(out->kind, "tun"))
		parse_tun_info(data, out);
}

int tun_nl_get_link(struct tun_nl *nl, const char *name,
		    struct tun_nl_link *out)
{
	struct nl_req req;
	char buf[NL_BUF_SIZE] __attribute__((aligned(NLMSG_ALIGNTO)));
	uint32_t ext = RTEXT_FILTER_SKIP_STATS;
	struct nlmsghdr *h;
	const struct ifinfomsg *ifi;
	const struct rtattr *a;
	int len, err;

	memset(out, 0, sizeof(*out));
	memset(&req, 0, sizeof(req));
	req.n.nlmsg_len = NLMSG_LENGTH(sizeof(req.ifi));
	req.n.nlmsg_type = RTM_GETLINK;
	req.ifi.ifi_family = AF_UNSPEC;
	/* ifi_index 0 + IFLA_IFNAME: look the link up by name. */
	err = nl_put(&req, IFLA_IFNAME, name, strlen(name) + 1);
	if (!err)
		err = nl_put(&req, IFLA_EXT_MASK, &ext, sizeof(ext));
	if (err)
		return err;

	err = nl_talk(nl, &req.n, buf, sizeof(buf), &h);
	if (err)
		return err;
	if (h->nlmsg_type != RTM_NEWLINK ||
	    h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return -EPROTO;

	ifi = NLMSG_DATA(h);
	out->ifindex = ifi->ifi_index;
	out->type = ifi->ifi_type;
	len = h->nlmsg_len - NLMSG_LENGTH(sizeof(*ifi));
	for (a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if ((a->rta_type & NLA_TYPE_MASK) == IFLA_LINKINFO)
			parse_linkinfo(a, out);
	}
	return 0;
}

/* RTM_NEWLINK on an existing link: flags under change, and optionally one
 * u32 attribute (attr 0: none). */
static int set_link(struct tun_nl *nl, int ifindex, unsigned flags,
		    unsigned change, unsigned short attr, uint32_t val)
{
	struct nl_req req;
	char buf[1024] __attribute__((aligned(NLMSG_ALIGNTO)));
	int err;

	memset(&req, 0, sizeof(req));
	req.n.nlmsg_len = NLMSG_LENGTH(sizeof(req.ifi));
	req.n.nlmsg_type = RTM_NEWLINK;
	req.ifi.ifi_family = AF_UNSPEC;
	req.ifi.ifi_index = ifindex;
	req.ifi.ifi_flags = flags;
	req.ifi.ifi_change = change;
	if (attr) {
		err = nl_put(&req, attr, &val, sizeof(val));
		if (err)
			return err;
	}
	return nl_talk(nl, &req.n, buf, sizeof(buf), NULL);
}

int tun_nl_set_mtu(struct tun_nl *nl, int ifindex, unsigned mtu)
{
	return set_link(nl, ifindex, 0, 0, IFLA_MTU, mtu);
}

int tun_nl_set_txqlen(struct tun_nl *nl, int ifindex, unsigned qlen)
{
	return set_link(nl, ifindex, 0, 0, IFLA_TXQLEN, qlen);
}

int tun_nl_set_up(struct tun_nl *nl, int ifindex)
{
	return set_link(nl, ifindex, IFF_UP, IFF_UP, 0, 0);
}

int tun_nl_add_addr4(struct tun_nl *nl, int ifindex, uint32_t addr,
		     uint8_t prefix)
{
	struct nl_req req;
	char buf[1024] __attribute__((aligned(NLMSG_ALIGNTO)));
	uint32_t be = htonl(addr);
	int err;

	memset(&req, 0, sizeof(req));
	req.n.nlmsg_len = NLMSG_LENGTH(sizeof(req.ifa));
	req.n.nlmsg_type = RTM_NEWADDR;
	req.n.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	req.ifa.ifa_family = AF_INET;
	req.ifa.ifa_prefixlen = prefix;
	req.ifa.ifa_scope = RT_SCOPE_UNIVERSE;
	req.ifa.ifa_index = ifindex;
	/*
	 * Like `ip addr add A/P dev X`: IFA_LOCAL is the interface's own
	 * address, IFA_ADDRESS the same (no point-to-point peer), so the
	 * kernel installs the prefix route A/P via this device.
	 */
	err = nl_put(&req, IFA_LOCAL, &be, sizeof(be));
	if (!err)
		err = nl_put(&req, IFA_ADDRESS, &be, sizeof(be));
	if (err)
		return err;
	return nl_talk(nl, &req.n, buf, sizeof(buf), NULL);
}
