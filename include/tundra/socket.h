/*
 * tundra/socket.h — the thread API: stream sockets for application threads
 * that run outside the workers (blocking or non-blocking, pollable).
 *
 * A socket is a pair of byte rings shared between the app thread and the
 * worker that owns the connection. write() copies app bytes into the
 * app->worker ring and the worker moves them into the connection's send
 * buffer; the worker copies received bytes from the receive buffer into the
 * worker->app ring only as far as it has room, so the window the peer sees
 * (RFC 9293 §3.8.6) reflects how fast the app reads. Those two copies are
 * the only ones; no lock is taken on the data path.
 *
 * Thread safety: like a file descriptor used without locking. Any thread
 * may use a socket, but only one at a time (hand it over with the usual
 * happens-before, e.g. a mutex or a thread start). Different sockets are
 * fully independent. A listening socket is the same: one accepting thread
 * at a time.
 *
 * Readiness: tundra_sock_fd() is an eventfd to put into poll/epoll next to
 * the app's own fds. It is edge-like: it becomes readable when something
 * happened on the socket since it was last re-armed (data, room to write,
 * connection established, EOF, error, accept queue non-empty). It is
 * re-armed by tundra_sock_events() and by any call that returns -EAGAIN.
 * The pattern for a poll loop is:
 *
 *	ev = tundra_sock_events(s);       // re-arms, then the current mask
 *	if (!(ev & wanted)) poll(fd...);  // only now is sleeping safe
 *
 * Blocking calls (flags without TUNDRA_NONBLOCK) sleep on that eventfd in
 * poll(2); they never spin.
 *
 * Errors are negative errno values with their socket meanings.
 *
 * Life cycle: listen any time after tundra_create() (before tundra_start()
 * is best under ThreadSanitizer: see tundra_listen), connect after
 * tundra_start(). tundra_stop() wakes
 * every thread blocked in a call on the stack's sockets, and from then on
 * calls return -ESHUTDOWN; join those threads, then tundra_destroy() frees
 * every socket that is left (handles are invalid after it).
 */
#ifndef TUNDRA_SOCKET_H
#define TUNDRA_SOCKET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tundra/tundra.h"

#ifdef __cplusplus
extern "C" {
#endif

struct tundra_sock; /* opaque: a connection or a listener */

/* flags */
#define TUNDRA_NONBLOCK 0x1 /* -EAGAIN (-EINPROGRESS for connect) instead
			       of sleeping */

/* Listen on `port` (host order) for connections from the peer.
 * `backlog`: established connections not yet accepted; when it is full,
 * further ones are reset (0: 128; at most 4096, as Linux caps it at
 * net.core.somaxconn). 0, -EADDRINUSE (the port serves
 * something else), -ENOMEM, -ESHUTDOWN. Closing a listener and listening
 * again on the same port reuses it. */
int tundra_sock_listen(struct tundra *t, uint16_t port, int backlog,
		       struct tundra_sock **out);

/* Take the next established connection from a listener. 0, -EAGAIN
 * (nonblocking, queue empty), -EINVAL (not a listener), -ESHUTDOWN. */
int tundra_sock_accept(struct tundra_sock *ls, struct tundra_sock **out,
		       int flags);

/* Active open (RFC 9293 §3.10.1) to addr:port (host order) from a worker
 * picked round-robin. Blocking: 0 once established, or -ECONNREFUSED (the
 * peer answered RST), -ETIMEDOUT (no answer), -EADDRNOTAVAIL, -ENOMEM,
 * -ENOBUFS (the worker holds max_conns / workers connections already);
 * *out is only set on 0. With TUNDRA_NONBLOCK: -EINPROGRESS with *out set;
 * POLLOUT in tundra_sock_events() when established, POLLERR|POLLHUP when
 * it failed (tundra_sock_error() tells why). */
int tundra_sock_connect(struct tundra *t, uint32_t addr, uint16_t port,
			int flags, struct tundra_sock **out);

/* Up to len received bytes. >0: bytes read; 0: end of stream (the peer's
 * FIN, RFC 9293 §3.10.7.4 eighth) or, after an error was reported once,
 * nothing more; -EAGAIN; -ECONNRESET / -ETIMEDOUT / -ECONNABORTED (reported
 * once, after the bytes that arrived before it); -ESHUTDOWN. Blocking: waits
 * for at least one byte. */
ssize_t tundra_sock_read(struct tundra_sock *s, void *buf, size_t len,
			 int flags);

/* Queue bytes for sending. Blocking: returns len once every byte is
 * queued (or the count queued before an error). Nonblocking: the count
 * that fit, or -EAGAIN. -EPIPE after tundra_sock_shutdown or on a
 * connection that was reset or closed (the reset itself is reported once as
 * -ECONNRESET first, as Linux does), -ESHUTDOWN. Before a nonblocking
 * connect completes: -EAGAIN. */
ssize_t tundra_sock_write(struct tundra_sock *s, const void *buf, size_t len,
			  int flags);

/* shutdown(SHUT_WR): our FIN goes after every queued byte (RFC 9293
 * §3.10.4 CLOSE as a half-close); reading continues until the peer's FIN.
 * 0, -ENOTCONN, -ESHUTDOWN. */
int tundra_sock_shutdown(struct tundra_sock *s);

/* Release the handle with a graceful close: every byte accepted by write
 * is delivered, then FIN (RFC 9293 §3.10.4). If received data was left
 * unread, or data arrives after the close, the connection is reset
 * instead (RFC 9293 §3.6 / RFC 1122 §4.2.2.13, as Linux does). A listener
 * stops accepting; connections in its queue are reset. Never blocks; s is
 * invalid afterwards. */
void tundra_sock_close(struct tundra_sock *s);

/* Release the handle with an abortive close: RST, queued bytes dropped
 * (RFC 9293 §3.10.5 ABORT; SO_LINGER 0 in Linux). s is invalid
 * afterwards. */
void tundra_sock_abort(struct tundra_sock *s);

/* The eventfd described above; owned by the socket, do not close it. */
int tundra_sock_fd(const struct tundra_sock *s);

/* Re-arm the eventfd and return what the socket allows now (poll.h):
 * POLLIN (bytes to read, EOF, or an error to read; listener: a connection
 * to accept), POLLOUT (established and at least a quarter of the send
 * ring free), POLLERR (an error not yet reported), POLLHUP (the connection
 * is gone, or both directions are shut). */
int tundra_sock_events(struct tundra_sock *s);

/* The pending error (like SO_ERROR): -ECONNREFUSED etc., or 0. Reading it
 * counts as reporting it. */
int tundra_sock_error(struct tundra_sock *s);

/* TCP_NODELAY: Nagle's algorithm off (on = 1) or back on. Asynchronous:
 * applies before bytes written after it are sent. */
void tundra_sock_set_nodelay(struct tundra_sock *s, int on);

#ifdef __cplusplus
}
#endif
#endif
