/*
 * tun_probe.c — drive tun_open()/tun_close() from test_tun_errors.sh.
 *
 *   tun_probe [--path P] [--twice] [--hold] NAME QUEUES MTU ADDR/PREFIX
 *
 * On failure prints tun_open()'s error line on stdout and exits 1.
 * On success prints "opened NAME ifindex N queues Q" and checks every queue
 * fd is O_NONBLOCK and FD_CLOEXEC. --twice opens the same device a second
 * time while the first is open (the address then already exists). --hold
 * prints "ready" and keeps the device open until stdin reaches EOF.
 */
#include "tun/tun.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int usage(void)
{
	fprintf(stderr, "usage: tun_probe [--path P] [--twice] [--hold] "
			"NAME QUEUES MTU ADDR/PREFIX\n");
	return 2;
}

static int check_fds(const struct tun_dev *dev)
{
	unsigned i;

	for (i = 0; i < dev->nqueues; i++) {
		int fl = fcntl(dev->fds[i], F_GETFL);
		int fdfl = fcntl(dev->fds[i], F_GETFD);

		if (fl < 0 || !(fl & O_NONBLOCK) || fdfl < 0 ||
		    !(fdfl & FD_CLOEXEC)) {
			printf("queue %u fd %d lacks O_NONBLOCK or FD_CLOEXEC\n",
			       i, dev->fds[i]);
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct tun_config cfg = { 0 };
	struct tun_dev dev, dev2;
	char err[256], *slash;
	struct in_addr in;
	int twice = 0, hold = 0, rc, argi = 1;

	for (; argi < argc && !strncmp(argv[argi], "--", 2); argi++) {
		if (!strcmp(argv[argi], "--path") && argi + 1 < argc)
			cfg.tun_path = argv[++argi];
		else if (!strcmp(argv[argi], "--twice"))
			twice = 1;
		else if (!strcmp(argv[argi], "--hold"))
			hold = 1;
		else
			return usage();
	}
	if (argc - argi != 4)
		return usage();
	cfg.name = argv[argi];
	cfg.queues = strtoul(argv[argi + 1], NULL, 0);
	cfg.mtu = strtoul(argv[argi + 2], NULL, 0);
	slash = strchr(argv[argi + 3], '/');
	if (!slash)
		return usage();
	*slash = '\0';
	if (inet_pton(AF_INET, argv[argi + 3], &in) != 1)
		return usage();
	cfg.peer_addr = ntohl(in.s_addr);
	cfg.peer_prefix = (uint8_t)atoi(slash + 1);

	rc = tun_open(&dev, &cfg, err, sizeof(err));
	if (rc) {
		printf("%s\n", err);
		fprintf(stderr, "tun_open: rc=%d\n", rc);
		/* A failed open leaves dev closed: closing again is harmless. */
		tun_close(&dev);
		return 1;
	}
	printf("opened %s ifindex %d queues %u\n", dev.name, dev.ifindex,
	       dev.nqueues);
	if (check_fds(&dev))
		return 1;

	if (twice) {
		rc = tun_open(&dev2, &cfg, err, sizeof(err));
		if (rc) {
			printf("second open: %s\n", err);
			return 1;
		}
		printf("reopened %s ifindex %d queues %u\n", dev2.name,
		       dev2.ifindex, dev2.nqueues);
		if (dev2.ifindex != dev.ifindex || check_fds(&dev2))
			return 1;
		tun_close(&dev2);
		tun_close(&dev2);
	}

	if (hold) {
		char buf[64];
		ssize_t n;

		printf("ready\n");
		fflush(stdout);
		do
			n = read(STDIN_FILENO, buf, sizeof(buf));
		while (n > 0 || (n < 0 && errno == EINTR));
	}
	tun_close(&dev);
	tun_close(&dev);
	printf("closed\n");
	return 0;
}
