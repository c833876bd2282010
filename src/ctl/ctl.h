/*
 * ctl.h — live stats over a Unix control socket.
 *
 * The server is a thread of the stack (tundra-ctl), started by
 * tundra_start() and stopped first by tundra_stop(). It listens on a
 * SOCK_STREAM Unix socket: by default the abstract name "@tundra-<dev>"
 * (per network namespace, gone when the process is), or
 * tundra_config.ctl_path: "@NAME" for another abstract name, anything else
 * a filesystem path (a stale socket there is removed; the new one is mode
 * 0600 and unlinked on stop).
 *
 * Protocol: one client at a time sends one request line (at most
 * CTL_MAX_REQUEST bytes, ended by "\n" or by shutting down its write side,
 * within CTL_READ_TIMEOUT_MS); the server writes the reply and closes.
 *
 *   stat               "stats ..." lines, as tundra_print_stats() prints
 *   stat json          one JSON object
 *   stat prometheus    Prometheus text exposition format (0.0.4)
 *   conns              one "conn ..." line per connection (like ss -ti)
 *   conns json         one JSON object
 *   help               the list above
 *
 * Anything else gets one line "error: ..." and the connection is closed.
 * README.md ("Live stats") documents every field.
 */
#ifndef TUNDRA_CTL_CTL_H
#define TUNDRA_CTL_CTL_H

#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>

struct tundra;
struct ctl_server;

#define CTL_MAX_REQUEST 256
#define CTL_READ_TIMEOUT_MS 2000
#define CTL_WRITE_TIMEOUT_MS 5000
/* A worker that does not answer a `conns` request within this long is
 * reported as missing; the request does not wait longer. */
#define CTL_WORKER_TIMEOUT_MS 2000
/* At most this many connections per `conns` reply ("truncated" beyond). */
#define CTL_MAX_CONNS 100000

/* Start the server thread (signals blocked by the caller). 0, or -errno
 * with one line in err; the stack runs on without live stats then. */
int ctl_server_start(struct tundra *t, struct ctl_server **out, char *err,
		     size_t errlen);
/* Stop and join the thread, close (and unlink) the socket. NULL is fine. */
void ctl_server_stop(struct ctl_server *s);

/* The `stat` text: the lines tundra_print_stats() prints. */
void ctl_stats_text(struct tundra *t, FILE *f);

/*
 * Fill *sa for a control socket name: NULL or "" -> "@tundra-<dev>",
 * "@NAME" -> abstract NAME, else a filesystem path. Returns the address
 * length, or 0 when the name does not fit.
 */
socklen_t ctl_sockaddr(struct sockaddr_un *sa, const char *path,
		       const char *dev);

/*
 * The client, `tundra stat ...` / `tundra conns ...`: argv[0] is the
 * subcommand. Returns the process exit status (0 ok, 1 error, 2 usage).
 *
 *   tundra stat  [--json|--prometheus] [--watch SECS] [--dev NAME|--socket PATH]
 *   tundra conns [--json] [--watch SECS] [--dev NAME|--socket PATH]
 */
int ctl_client_main(int argc, char **argv);

#endif
