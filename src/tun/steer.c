/* steer.c — the eBPF queue steering program of a TUN device (steer.h). */
#include "tun/steer.h"

#include <errno.h>
#include <linux/bpf.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tun/tun.h"

#define INSN(c, d, s, o, i)                 \
	((struct bpf_insn){ .code = (c),    \
			    .dst_reg = (d), \
			    .src_reg = (s), \
			    .off = (o),     \
			    .imm = (i) })
#define ALU_K(op, d, k) INSN(BPF_ALU64 | (op) | BPF_K, d, 0, 0, k)
#define ALU_X(op, d, s) INSN(BPF_ALU64 | (op) | BPF_X, d, s, 0, 0)
#define MOV_X(d, s) ALU_X(BPF_MOV, d, s)
#define LD_ABS(sz, k) INSN(BPF_LD | (sz) | BPF_ABS, 0, 0, 0, k)
#define LD_IND(sz, s, k) INSN(BPF_LD | (sz) | BPF_IND, 0, s, 0, k)
#define JMP_K(op, d, k, off) INSN(BPF_JMP | (op) | BPF_K, d, 0, off, k)
#define JA(off) INSN(BPF_JMP | BPF_JA, 0, 0, off, 0)
#define EXIT() INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

/* Registers. The packet loads take the context in R6 and clobber R0-R5,
 * so the fields go to R7-R9 first; the hash then uses R1-R6. */
enum { R0, R1, R2, R3, R4, R5, R6, R7, R8, R9 };
#define V0 R3
#define V1 R4
#define V2 R5
#define V3 R6

#define STEER_MAX_INSNS 400

struct prog {
	struct bpf_insn in[STEER_MAX_INSNS];
	unsigned n;
};

static void emit(struct prog *p, struct bpf_insn i)
{
	if (p->n < STEER_MAX_INSNS)
		p->in[p->n] = i;
	p->n++;
}

static void emit_imm64(struct prog *p, int dst, uint64_t v)
{
	emit(p,
	     INSN(BPF_LD | BPF_DW | BPF_IMM, dst, 0, 0, (int32_t)(uint32_t)v));
	emit(p, INSN(0, 0, 0, 0, (int32_t)(uint32_t)(v >> 32)));
}

/* x = x <<< r (R0 is the scratch register). */
static void emit_rotl(struct prog *p, int x, int r)
{
	emit(p, MOV_X(R0, x));
	emit(p, ALU_K(BPF_RSH, R0, 64 - r));
	emit(p, ALU_K(BPF_LSH, x, r));
	emit(p, ALU_X(BPF_OR, x, R0));
}

/* SipRound (Aumasson & Bernstein, "SipHash: a fast short-input PRF"). */
static void emit_sipround(struct prog *p)
{
	emit(p, ALU_X(BPF_ADD, V0, V1));
	emit_rotl(p, V1, 13);
	emit(p, ALU_X(BPF_XOR, V1, V0));
	emit_rotl(p, V0, 32);
	emit(p, ALU_X(BPF_ADD, V2, V3));
	emit_rotl(p, V3, 16);
	emit(p, ALU_X(BPF_XOR, V3, V2));
	emit(p, ALU_X(BPF_ADD, V0, V3));
	emit_rotl(p, V3, 21);
	emit(p, ALU_X(BPF_XOR, V3, V0));
	emit(p, ALU_X(BPF_ADD, V2, V1));
	emit_rotl(p, V1, 17);
	emit(p, ALU_X(BPF_XOR, V1, V2));
	emit_rotl(p, V2, 32);
}

/* SipHash-2-4 compresses one 64-bit word m. */
static void emit_block(struct prog *p, int m)
{
	emit(p, ALU_X(BPF_XOR, V3, m));
	emit_sipround(p);
	emit_sipround(p);
	emit(p, ALU_X(BPF_XOR, V0, m));
}

static uint64_t le64(const uint8_t *b)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

/* Point the jump at index j to the next instruction to be emitted. */
static void land(struct prog *p, unsigned j)
{
	p->in[j].off = (int16_t)(p->n - j - 1);
}

static void build(struct prog *p, const uint8_t key[16], unsigned nworkers)
{
	uint64_t k0 = le64(key), k1 = le64(key + 8);
	unsigned not_v4, no_ports1, no_ports2, to_hash;

	p->n = 0;
	emit(p, MOV_X(R6, R1));
	/* Not IPv4: worker 0, as the RX thread does. */
	emit(p, LD_ABS(BPF_B, 0));
	emit(p, ALU_K(BPF_RSH, R0, 4));
	not_v4 = p->n;
	emit(p, JMP_K(BPF_JNE, R0, 4, 0));
	emit(p, LD_ABS(BPF_B, 0));
	emit(p, ALU_K(BPF_AND, R0, 0x0f));
	emit(p, ALU_K(BPF_LSH, R0, 2));
	emit(p, MOV_X(R9, R0)); /* ihl */
	emit(p, LD_ABS(BPF_W, 12));
	emit(p, MOV_X(R7, R0)); /* saddr: the remote address */
	emit(p, LD_ABS(BPF_W, 16));
	emit(p, MOV_X(R8, R0)); /* daddr: ours */
	/* Ports only for TCP and not a fragment (rx_classify). */
	emit(p, LD_ABS(BPF_B, 9));
	no_ports1 = p->n;
	emit(p, JMP_K(BPF_JNE, R0, 6, 0));
	emit(p, LD_ABS(BPF_H, 6));
	no_ports2 = p->n;
	emit(p, JMP_K(BPF_JSET, R0, 0x3fff, 0)); /* MF | offset */
	emit(p, LD_IND(BPF_W, R9, 0));		 /* sport << 16 | dport */
	emit(p, MOV_X(R9, R0));
	to_hash = p->n;
	emit(p, JA(0));
	land(p, no_ports1);
	land(p, no_ports2);
	emit(p, ALU_K(BPF_MOV, R9, 0));
	land(p, to_hash);
	/* The 12 input bytes of flow_hash, little-endian words: raddr,
	 * laddr, then rport, lport and the length (12) in the top byte. */
	emit(p, MOV_X(R1, R8));
	emit(p, ALU_K(BPF_LSH, R1, 32));
	emit(p, ALU_X(BPF_OR, R1, R7));
	emit(p, MOV_X(R2, R9));
	emit(p, ALU_K(BPF_RSH, R2, 16));
	emit(p, MOV_X(R0, R9));
	emit(p, ALU_K(BPF_AND, R0, 0xffff));
	emit(p, ALU_K(BPF_LSH, R0, 16));
	emit(p, ALU_X(BPF_OR, R2, R0));
	emit_imm64(p, R0, 12ull << 56);
	emit(p, ALU_X(BPF_OR, R2, R0));
	emit_imm64(p, V0, k0 ^ 0x736f6d6570736575ull);
	emit_imm64(p, V1, k1 ^ 0x646f72616e646f6dull);
	emit_imm64(p, V2, k0 ^ 0x6c7967656e657261ull);
	emit_imm64(p, V3, k1 ^ 0x7465646279746573ull);
	emit_block(p, R1);
	emit_block(p, R2);
	emit(p, ALU_K(BPF_XOR, V2, 0xff));
	for (int i = 0; i < 4; i++)
		emit_sipround(p);
	emit(p, MOV_X(R0, V0));
	emit(p, ALU_X(BPF_XOR, R0, V1));
	emit(p, ALU_X(BPF_XOR, R0, V2));
	emit(p, ALU_X(BPF_XOR, R0, V3));
	/* flow_worker(): ((h >> 32) * nworkers) >> 32. */
	emit(p, ALU_K(BPF_RSH, R0, 32));
	emit(p, ALU_K(BPF_MUL, R0, (int32_t)nworkers));
	emit(p, ALU_K(BPF_RSH, R0, 32));
	emit(p, EXIT());
	land(p, not_v4);
	emit(p, ALU_K(BPF_MOV, R0, 0));
	emit(p, EXIT());
}

static long sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

int tun_steer_load(const uint8_t key[16], unsigned nworkers, char *err,
		   size_t errlen)
{
	static struct prog p;
	static char log[65536];
	union bpf_attr a;
	int fd;

	if (nworkers < 1 || nworkers > 65536) {
		snprintf(err, errlen, "steering: %u workers", nworkers);
		return -EINVAL;
	}
	build(&p, key, nworkers);
	if (p.n > STEER_MAX_INSNS) {
		snprintf(err, errlen, "steering: program too long");
		return -E2BIG;
	}
	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
	a.insns = (uintptr_t)p.in;
	a.insn_cnt = p.n;
	a.license = (uintptr_t) "GPL";
	fd = (int)sys_bpf(BPF_PROG_LOAD, &a);
	if (fd < 0) {
		int e = errno;
		char *nl;

		/* Once more with the verifier's log, for the message. */
		log[0] = 0;
		a.log_buf = (uintptr_t)log;
		a.log_size = sizeof(log);
		a.log_level = 1;
		fd = (int)sys_bpf(BPF_PROG_LOAD, &a);
		if (fd >= 0)
			return fd;
		nl = strrchr(log, '\n');

		/* The verifier's last complaint, on one line. */
		while (nl && nl > log && nl[1] == 0) {
			*nl = 0;
			nl = strrchr(log, '\n');
		}
		snprintf(err, errlen,
			 "steering: loading the eBPF program: %s%s%s",
			 strerror(e), log[0] ? ": " : "", nl ? nl + 1 : log);
		return -e;
	}
	return fd;
}

int tun_steer_attach(struct tun_dev *dev, int prog_fd, char *err, size_t errlen)
{
	if (ioctl(dev->fds[0], TUNSETSTEERINGEBPF, &prog_fd) < 0) {
		int e = errno;

		snprintf(err, errlen, "steering: TUNSETSTEERINGEBPF on %s: %s",
			 dev->name, strerror(e));
		return -e;
	}
	return 0;
}

long tun_steer_test_run(int prog_fd, const uint8_t *pkt, uint32_t len)
{
	/* The test run takes an Ethernet frame and hands a socket filter
	 * the network header, as a TUN device's skb is seen. */
	uint8_t frame[14 + 1500];
	union bpf_attr a;

	if (len > sizeof(frame) - 14)
		return -EINVAL;
	memset(frame, 0, 14);
	frame[12] = 0x08; /* ETH_P_IP */
	memcpy(frame + 14, pkt, len);
	memset(&a, 0, sizeof(a));
	a.test.prog_fd = (uint32_t)prog_fd;
	a.test.data_in = (uintptr_t)frame;
	a.test.data_size_in = 14 + len;
	a.test.repeat = 1;
	if (sys_bpf(BPF_PROG_TEST_RUN, &a) < 0)
		return -errno;
	return a.test.retval;
}
