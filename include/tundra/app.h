/*
 * tundra/app.h — the in-worker application API.
 *
 * An in-worker app is a set of callbacks that run on the worker thread that
 * owns the connection, in the middle of its packet loop. They must not block.
 * Received data is handed over without a copy: tundra_conn_peek() gives views
 * into the connection's receive buffer, valid until tundra_conn_consume() or
 * the callback returns.
 *
 * Every function here may be called only from the owning worker thread,
 * inside a callback of that connection (or of another connection of the
 * same worker, or a tundra_worker_call on that worker).
 *
 * closed() is not called for connections still open when the stack is
 * destroyed: an app that keeps state per connection frees it with its own
 * registry at shutdown.
 *
 * A connection names its app by an index into its worker's table of apps
 * (one byte where a pointer took eight), so a worker serves at most 256
 * distinct struct tundra_app: keep one per kind of service, not one per
 * connection, and keep it alive as long as the stack. Past 256,
 * tundra_connect fails with -ENOSPC and SYNs for a listener with a new app
 * are dropped (drop reason TCP_NO_MEMORY).
 */
#ifndef TUNDRA_APP_H
#define TUNDRA_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct tundra_conn; /* opaque */

struct tundra_app {
	const char *name;
	/* The three-way handshake completed (RFC 9293 §3.5), for a
	 * connection accepted on a listener or opened with tundra_connect.
	 * Return 0 to keep it, or a negative errno to refuse it (it is
	 * reset). */
	int (*accepted)(struct tundra_conn *c, void *arg);
	/* New in-order data is in the receive buffer, or the peer's FIN
	 * arrived (tundra_conn_eof). */
	void (*readable)(struct tundra_conn *c);
	/* Send-buffer space was freed by the peer's ACKs. */
	void (*writable)(struct tundra_conn *c);
	/* Last call for c: it is closed (err 0) or was reset/aborted
	 * (-ECONNRESET, -ETIMEDOUT, -ECONNABORTED), or a connect failed
	 * (-ECONNREFUSED, -ETIMEDOUT). c is invalid after it returns. */
	void (*closed)(struct tundra_conn *c, int err);
};

/* Views of the unread received bytes (at most two: the buffer wraps).
 * Returns the total number of bytes viewed. */
size_t tundra_conn_peek(struct tundra_conn *c, struct iovec iov[2]);
/* Mark n bytes (<= what peek returned) as read; opens the window. */
void tundra_conn_consume(struct tundra_conn *c, size_t n);
/* The peer sent FIN and every byte before it has been consumed. */
bool tundra_conn_eof(const struct tundra_conn *c);
/* The peer sent FIN (bytes before it may still be unread). */
bool tundra_conn_fin_received(const struct tundra_conn *c);

/* Copy up to len bytes into the send buffer; returns how many were taken
 * (0 when full, or after close). They are sent as the window allows. */
size_t tundra_conn_write(struct tundra_conn *c, const void *buf, size_t len);
size_t tundra_conn_write_space(const struct tundra_conn *c);

/* Nagle's algorithm (on by default) off or on again (TCP_NODELAY). */
void tundra_conn_set_nodelay(struct tundra_conn *c, bool on);
/* Congestion control of this connection ("cubic", "reno"; like
 * TCP_CONGESTION), instead of the configured one. Returns 0, or -ENOENT
 * for an unknown name. The window is kept; the new algorithm takes over
 * from the next ACK. */
int tundra_conn_set_cc(struct tundra_conn *c, const char *name);

/* Keep-alive probes after idle_ms without a segment from the peer, every
 * intvl_ms, `probes` times before giving up (-ETIMEDOUT). idle_ms 0: off
 * (the default, RFC 1122 §4.2.3.6). */
void tundra_conn_set_keepalive(struct tundra_conn *c, uint32_t idle_ms,
			       uint32_t intvl_ms, uint8_t probes);

/* Graceful close of our direction (a half-close, like shutdown(SHUT_WR)):
 * queued bytes are delivered, then FIN; data from the peer is still
 * delivered until its own FIN. */
void tundra_conn_close(struct tundra_conn *c);
/* Abortive close: RST, queued bytes dropped (RFC 9293 §3.10.5 ABORT). */
void tundra_conn_abort(struct tundra_conn *c);

/* One word of per-connection storage for the app, zeroed just before
 * accepted() is called, the app's from then on. Before that the core
 * keeps accepted()'s arg in it: an app that opened c with
 * tundra_connect does not write it until accepted(), and the closed()
 * of a connect that failed (no accepted() before it) finds the arg there.
 * (It is not a field of its own: every connection, idle or not, pays for
 * each word.) */
uint64_t *tundra_conn_app_data(struct tundra_conn *c);
/* Index of the worker that owns c. */
unsigned tundra_conn_worker(const struct tundra_conn *c);

#ifdef __cplusplus
}
#endif
#endif
