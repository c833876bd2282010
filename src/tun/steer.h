/*
 * steer.h — eBPF queue steering of a multi-queue TUN device
 * (TUNSETSTEERINGEBPF, Linux 4.16; drivers/net/tun.c tun_ebpf_select_queue).
 *
 * Without it the kernel puts a flow on the queue tundra last wrote it on,
 * and a flow it has no entry for (a SYN; any flow once its table of 4096
 * entries is full) on a queue of its own hash, which tundra cannot
 * compute (a secret key). With it the kernel runs a socket-filter program
 * on every datagram it sends to tundra, and uses its return value modulo
 * the number of queues. tun_steer_load() builds a program that returns
 * tundra's own worker map of the datagram, flow_worker(flow_hash(key,
 * 4-tuple), nworkers) (src/core/core.h: SipHash-2-4 of the 12-byte tuple,
 * by the RX thread's rules for what is hashed), so every datagram lands on
 * its owner's queue (worker mod queues) from the first SYN on.
 *
 * The program is raw eBPF built here (no libbpf, no compiler): legacy
 * packet loads (BPF_LD | BPF_ABS/BPF_IND, which read network order and
 * end the program with 0 past the end of the packet) and 64-bit ALU.
 * Control thread only.
 */
#ifndef TUNDRA_TUN_STEER_H
#define TUNDRA_TUN_STEER_H

#include <stddef.h>
#include <stdint.h>

struct tun_dev;

/* Load the program for this key and worker count: its fd, or -errno with
 * one line in err (EPERM without CAP_BPF; the verifier's complaint). */
int tun_steer_load(const uint8_t key[16], unsigned nworkers, char *err,
		   size_t errlen);
/* Make the device steer by prog_fd (the device keeps its own reference:
 * the caller may close prog_fd). 0 or -errno with one line in err. */
int tun_steer_attach(struct tun_dev *dev, int prog_fd, char *err,
		     size_t errlen);
/* Run the program on one IPv4 datagram (BPF_PROG_TEST_RUN): its return
 * value, or -errno. For tests. */
long tun_steer_test_run(int prog_fd, const uint8_t *pkt, uint32_t len);

#endif
