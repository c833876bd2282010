/* waiter.c — the blocking half of waiter.h. */
#include "base/waiter.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

int waiter_init(struct waiter *w)
{
	atomic_init(&w->sleeping, 0);
	atomic_init(&w->wakeups, 0);
	w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return w->efd < 0 ? -errno : 0;
}

void waiter_destroy(struct waiter *w)
{
	if (w->efd >= 0)
		close(w->efd);
	w->efd = -1;
}

void waiter_kick(struct waiter *w)
{
	uint64_t one = 1;

	/* Only the producer that clears the flag writes: one syscall per
	 * sleep, however many producers race. */
	if (atomic_exchange_explicit(&w->sleeping, 0, memory_order_acq_rel)) {
		atomic_fetch_add_explicit(&w->wakeups, 1,
					  memory_order_relaxed);
		/* EAGAIN means the counter is already non-zero: awake. */
		(void)!write(w->efd, &one, sizeof(one));
	}
}

void waiter_sleep(struct waiter *w, int timeout_ms)
{
	waiter_sleep_fd(w, -1, timeout_ms);
}

void waiter_sleep_fd(struct waiter *w, int fd, int timeout_ms)
{
	/* poll() skips an entry whose fd is negative. */
	struct pollfd p[2] = { { .fd = w->efd, .events = POLLIN },
			       { .fd = fd, .events = POLLIN } };
	uint64_t v;

	if (poll(p, 2, timeout_ms) > 0 && (p[0].revents & POLLIN))
		(void)!read(w->efd, &v, sizeof(v));
	atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed);
}
