/*
 * iperf3.h — an iperf3 server as an in-worker app (port 5201).
 *
 * It speaks the control protocol of ESnet's iperf 3.x the way the stock
 * client (3.12 on Debian 12) expects it: TCP tests forward, reverse (-R),
 * bidirectional (--bidir), 1..128 parallel streams, one test at a time.
 * The receiver-side numbers it reports are the bytes tundra's connections
 * took in; the sender-side ones are the bytes it queued for sending.
 *
 * Usage (control thread):
 *	struct iperf3_server *s;
 *	iperf3_server_create(&s, t, stdout);
 *	tundra_listen(t, IPERF3_PORT, &app_iperf3, s);
 *	...
 *	tundra_destroy(t);
 *	iperf3_server_destroy(s);   // after the stack: frees what is left
 */
#ifndef TUNDRA_APPS_IPERF3_H
#define TUNDRA_APPS_IPERF3_H

#include <stdio.h>

#include "tundra/tundra.h"

#define IPERF3_PORT 5201

struct iperf3_server;

/* The app; its listener arg must be a struct iperf3_server. */
extern const struct tundra_app app_iperf3;

/* A server context for stack t. log (may be NULL) gets one line per test
 * ("iperf3: test N ..."). 0 or -ENOMEM. */
int iperf3_server_create(struct iperf3_server **out, struct tundra *t,
			 FILE *log);
/* Free the context and any test state left. Call after tundra_destroy()
 * (or before tundra_start()): no callback may run any more. NULL is fine. */
void iperf3_server_destroy(struct iperf3_server *s);

#endif
