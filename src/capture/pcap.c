/* pcap.c — see pcap.h. */
#include <errno.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "capture/pcap.h"

#define CAPTURE_SNAPLEN 65535

struct capture {
	pthread_mutex_t lock; /* serializes the RX and TX threads */
	pcap_t *p;
	pcap_dumper_t *d;
	uint64_t count;
	uint8_t buf[CAPTURE_SNAPLEN]; /* gather buffer, under lock */
};

struct capture *capture_open(const char *path, char *err, size_t errlen)
{
	struct capture *cap = calloc(1, sizeof(*cap));

	if (!cap) {
		snprintf(err, errlen, "out of memory opening capture %s", path);
		return NULL;
	}
	cap->p = pcap_open_dead(DLT_RAW, CAPTURE_SNAPLEN);
	if (!cap->p) {
		snprintf(err, errlen, "cannot open capture %s: pcap_open_dead",
			 path);
		free(cap);
		return NULL;
	}
	cap->d = pcap_dump_open(cap->p, path);
	if (!cap->d) {
		snprintf(err, errlen, "cannot write capture file %s: %s", path,
			 pcap_geterr(cap->p));
		pcap_close(cap->p);
		free(cap);
		return NULL;
	}
	pthread_mutex_init(&cap->lock, NULL);
	return cap;
}

static void record(struct capture *cap, const uint8_t *data, size_t len)
{
	struct pcap_pkthdr h;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	h.ts.tv_sec = ts.tv_sec;
	h.ts.tv_usec = ts.tv_nsec / 1000;
	h.len = (bpf_u_int32)len;
	h.caplen = (bpf_u_int32)(len < CAPTURE_SNAPLEN ? len : CAPTURE_SNAPLEN);
	pcap_dump((u_char *)cap->d, &h, data);
	cap->count++;
}

void capture_packet(struct capture *cap, const void *data, size_t len)
{
	pthread_mutex_lock(&cap->lock);
	record(cap, data, len);
	pthread_mutex_unlock(&cap->lock);
}

void capture_packetv(struct capture *cap, const struct iovec *iov, int niov)
{
	size_t len = 0, total = 0;

	pthread_mutex_lock(&cap->lock);
	for (int i = 0; i < niov; i++) {
		size_t n = iov[i].iov_len;

		total += n;
		if (len + n > sizeof(cap->buf))
			n = sizeof(cap->buf) - len;
		memcpy(cap->buf + len, iov[i].iov_base, n);
		len += n;
	}
	if (total > len) {
		/* Longer than the snap length (cannot happen at MTU-sized
		 * datagrams): recorded truncated, with the real length. */
		struct pcap_pkthdr h;
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		h.ts.tv_sec = ts.tv_sec;
		h.ts.tv_usec = ts.tv_nsec / 1000;
		h.len = (bpf_u_int32)total;
		h.caplen = (bpf_u_int32)len;
		pcap_dump((u_char *)cap->d, &h, cap->buf);
		cap->count++;
	} else {
		record(cap, cap->buf, len);
	}
	pthread_mutex_unlock(&cap->lock);
}

void capture_flush(struct capture *cap)
{
	if (!cap)
		return;
	pthread_mutex_lock(&cap->lock);
	pcap_dump_flush(cap->d);
	pthread_mutex_unlock(&cap->lock);
}

uint64_t capture_count(struct capture *cap)
{
	uint64_t n;

	pthread_mutex_lock(&cap->lock);
	n = cap->count;
	pthread_mutex_unlock(&cap->lock);
	return n;
}

void capture_close(struct capture *cap)
{
	if (!cap)
		return;
	pcap_dump_close(cap->d); /* flushes */
	pcap_close(cap->p);
	pthread_mutex_destroy(&cap->lock);
	free(cap);
}
