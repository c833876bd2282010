/* log.c — see log.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"

#define LOG_RATE_NS 1000000000ull /* one line per second per site */

int log_level_ = LOG_LVL_INFO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void log_set_level(int level)
{
	if (level < LOG_LVL_ERROR)
		level = LOG_LVL_ERROR;
	if (level > LOG_LVL_DEBUG)
		level = LOG_LVL_DEBUG;
	__atomic_store_n(&log_level_, level, __ATOMIC_RELAXED);
}

int log_get_level(void)
{
	return __atomic_load_n(&log_level_, __ATOMIC_RELAXED);
}

void log_msg(int level, const char *fmt, ...)
{
	char line[1024], name[17] = { 0 };
	struct timespec ts;
	struct tm tm;
	int saved = errno, n, m;
	va_list ap;

	if (level < LOG_LVL_ERROR)
		level = LOG_LVL_ERROR;
	if (level > LOG_LVL_DEBUG)
		level = LOG_LVL_DEBUG;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	if (prctl(PR_GET_NAME, name, 0, 0, 0) != 0 || !name[0])
		snprintf(name, sizeof(name), "?");
	n = snprintf(line, sizeof(line),
		     "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ %s %s: ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000, name,
		     level_names[level]);
	if (n < 0)
		n = 0;
	va_start(ap, fmt);
	errno = saved; /* for %m */
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2; /* truncated */
	line[n++] = '\n';
	/* One write: lines from several threads do not interleave. */
	(void)!write(STDERR_FILENO, line, (size_t)n);
	errno = saved;
}

bool log_ratelimit_ok(struct log_ratelimit *rl, uint64_t *suppressed)
{
	struct timespec ts;
	uint64_t now, next;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	next = __atomic_load_n(&rl->next_ns, __ATOMIC_RELAXED);
	if (now < next ||
	    !__atomic_compare_exchange_n(&rl->next_ns, &next,
					 now + LOG_RATE_NS, false,
					 __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
		__atomic_fetch_add(&rl->suppressed, 1, __ATOMIC_RELAXED);
		return false;
	}
	*suppressed = __atomic_exchange_n(&rl->suppressed, 0,
					  __ATOMIC_RELAXED);
	return true;
}
