/*
 * netlink.h — the few rtnetlink requests the TUN layer needs: look a link up
 * by name, set its MTU, bring it up, add an IPv4 address.
 *
 * rtnetlink is used instead of the older SIOCSIF* ioctls because it is the
 * interface iproute2 uses, it reports precise errors, it can tell what kind of
 * device a name belongs to (IFLA_LINKINFO), and it is the only way to add an
 * address with a prefix. See rtnetlink(7), netlink(7) and
 * Documentation/userspace-api/netlink/intro.rst in the kernel tree.
 *
 * Everything here is control path: blocking, small, not thread-safe per
 * socket (one tun_nl per caller).
 */
#ifndef TUNDRA_TUN_NETLINK_H
#define TUNDRA_TUN_NETLINK_H

#include <stdbool.h>
#include <stdint.h>

struct tun_nl {
	int fd;
	uint32_t seq;
};

/* What RTM_GETLINK told us about a named link. */
struct tun_nl_link {
	int ifindex;
	unsigned short type;  /* ARPHRD_* */
	char kind[32];        /* IFLA_INFO_KIND, "" when the driver has none */
	/* Only meaningful when kind is "tun" and has_tun_info is set. */
	bool has_tun_info;
	uint8_t tun_type;     /* IFF_TUN or IFF_TAP */
	bool tun_multi_queue;
};

/* Open a NETLINK_ROUTE socket in the caller's network namespace. */
int tun_nl_open(struct tun_nl *nl);
void tun_nl_close(struct tun_nl *nl);

/* RTM_GETLINK by name. -ENODEV when no such link exists. */
int tun_nl_get_link(struct tun_nl *nl, const char *name,
		    struct tun_nl_link *out);

/* RTM_NEWLINK on an existing link: IFLA_MTU. */
int tun_nl_set_mtu(struct tun_nl *nl, int ifindex, unsigned mtu);

/* RTM_NEWLINK on an existing link: IFLA_TXQLEN. */
int tun_nl_set_txqlen(struct tun_nl *nl, int ifindex, unsigned qlen);

/* RTM_NEWLINK on an existing link: set IFF_UP. */
int tun_nl_set_up(struct tun_nl *nl, int ifindex);

/*
 * RTM_NEWADDR: add addr/prefix (host byte order) to the link, with
 * NLM_F_EXCL so an existing identical address comes back as -EEXIST.
 */
int tun_nl_add_addr4(struct tun_nl *nl, int ifindex, uint32_t addr,
		     uint8_t prefix);

#endif /* TUNDRA_TUN_NETLINK_H */
