/*
 * log.h — one-line diagnostics on stderr for the threaded shell (never the
 * sans-I/O core, which does no I/O).
 *
 *   2026-11-27T03:25:56.123456Z tundra-rx warn: read tun0 queue 1: ...
 *
 * Each line is formatted into a local buffer and written with a single
 * write(2), so lines from different threads never interleave. The level
 * check is inline and the arguments are not evaluated when the level is
 * disabled, so a LOG_DEBUG on a hot path costs one relaxed load.
 *
 * LOG_*_RL(kind...) are rate-limited: at most one line per second per call
 * site; the next line that gets through says how many were suppressed.
 */
#ifndef TUNDRA_BASE_LOG_H
#define TUNDRA_BASE_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level {
	LOG_LVL_ERROR = 0,
	LOG_LVL_WARN = 1,
	LOG_LVL_INFO = 2,
	LOG_LVL_DEBUG = 3,
};

/* The process-wide level (default LOG_LVL_INFO); values are clamped to
 * 0..3. Any thread, any time. */
void log_set_level(int level);
int log_get_level(void);

extern int log_level_;

static inline bool log_enabled(int level)
{
	return level <= __atomic_load_n(&log_level_, __ATOMIC_RELAXED);
}

/* Write one line (a newline is added). Use the macros. */
void log_msg(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A per-call-site rate limit: one line per interval. */
struct log_ratelimit {
	uint64_t next_ns;     /* CLOCK_MONOTONIC; atomics only */
	uint64_t suppressed;
};
/* true when a line may go now; *suppressed gets the count of lines
 * swallowed since the last one that went. */
bool log_ratelimit_ok(struct log_ratelimit *rl, uint64_t *suppressed);

#define LOG_AT(level, ...)                                                    \
	do {                                                                  \
		if (log_enabled(level))                                       \
			log_msg(level, __VA_ARGS__);                          \
	} while (0)
#define LOG_ERROR(...) LOG_AT(LOG_LVL_ERROR, __VA_ARGS__)
#define LOG_WARN(...) LOG_AT(LOG_LVL_WARN, __VA_ARGS__)
#define LOG_INFO(...) LOG_AT(LOG_LVL_INFO, __VA_ARGS__)
#define LOG_DEBUG(...) LOG_AT(LOG_LVL_DEBUG, __VA_ARGS__)

/* Rate-limited (one line per second for this call site). fmt must be a
 * string literal: " (N more suppressed)" is appended when lines were
 * swallowed. */
#define LOG_AT_RL(level, fmt, ...)                                            \
	do {                                                                  \
		static struct log_ratelimit log_rl_;                          \
		uint64_t log_sup_;                                            \
		if (log_enabled(level) &&                                     \
		    log_ratelimit_ok(&log_rl_, &log_sup_)) {                  \
			if (log_sup_)                                         \
				log_msg(level, fmt " (%llu more suppressed)", \
					##__VA_ARGS__,                        \
					(unsigned long long)log_sup_);        \
			else                                                  \
				log_msg(level, fmt, ##__VA_ARGS__);           \
		}                                                             \
	} while (0)
#define LOG_WARN_RL(fmt, ...) LOG_AT_RL(LOG_LVL_WARN, fmt, ##__VA_ARGS__)
#define LOG_ERROR_RL(fmt, ...) LOG_AT_RL(LOG_LVL_ERROR, fmt, ##__VA_ARGS__)

#endif
