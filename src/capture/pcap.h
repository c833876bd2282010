/*
 * pcap.h — capture what crosses the TUN device to a pcap file (libpcap,
 * LINKTYPE_RAW: each record is one IPv4 datagram, no link header).
 *
 * The RX thread records every datagram it reads, the TX thread every
 * datagram it writes (gathered from the descriptor's iovecs). The two
 * writers share one file behind a mutex, and each record is a copy plus a
 * buffered stdio write: a debugging aid, not free — expect RX and TX to
 * contend on the lock and throughput to drop (each packet costs a memcpy,
 * a clock read and an fwrite). Records are in write order, which is the
 * order in which the stack saw them (timestamps from CLOCK_REALTIME, in
 * microseconds).
 */
#ifndef TUNDRA_CAPTURE_PCAP_H
#define TUNDRA_CAPTURE_PCAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct capture;

/* Create (truncate) path as a pcap file. NULL with one line in err when it
 * cannot be written. */
struct capture *capture_open(const char *path, char *err, size_t errlen);
/* Record one datagram: a flat buffer, or gathered from iovecs. Any
 * thread. */
void capture_packet(struct capture *cap, const void *data, size_t len);
void capture_packetv(struct capture *cap, const struct iovec *iov, int niov);
/* Push buffered records to the file. */
void capture_flush(struct capture *cap);
/* Flush, close, free. NULL is fine. */
void capture_close(struct capture *cap);
/* Records written so far. */
uint64_t capture_count(struct capture *cap);

#endif
