/*
 * config/config.h — tundra's knobs: one table shared by the configuration
 * file (INI, parsed with libinih), the command line and --help, so the
 * three cannot drift. config/tundra.conf documents every knob.
 *
 * Order: config_defaults(), then config_load_file() (--config FILE), then
 * the flags (config_parse_args() does file-then-flags itself), then
 * config_finish() for what depends on several knobs. Every error is one
 * line in err (no "tundra: " prefix, no newline).
 */
#ifndef TUNDRA_CONFIG_H
#define TUNDRA_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tundra/tundra.h"

#define CONFIG_MAX_CPUS 256 /* entries of a CPU list (= max workers) */

enum config_app { APP_ECHO, APP_DISCARD, APP_SOURCE, APP_IPERF3, APP_COUNT };

/* Everything the program is configured with: the stack's config plus what
 * main itself acts on, and storage for the strings and the CPU list that
 * cfg points into. */
struct config {
	struct tundra_config cfg;
	unsigned port[APP_COUNT]; /* 0: that app is off */
	char dev[16];
	char ctl_path[108];      /* sun_path; "": the default */
	char pcap_path[PATH_MAX]; /* "": off */
	char impair[256];         /* --impair spec; "": off */
	int cpu_list[CONFIG_MAX_CPUS]; /* as written; cpu_list_n entries */
	unsigned cpu_list_n;           /* 0: workers not pinned */
	int cpu_workers[CONFIG_MAX_CPUS]; /* expanded to cfg.workers */
	const char *config_file;  /* --config, or NULL */
	bool seen[64];            /* per knob, in the file being parsed */
	int seen_line[64];
};

enum config_type {
	KT_UINT,   /* integer in min..max */
	KT_COUNT,  /* integer in min..max, or "auto" (number of CPUs) */
	KT_ADDR,   /* A.B.C.D/N */
	KT_ENUM,   /* one of names[] (value: its index) */
	KT_NAME,   /* device name, 1..15 characters */
	KT_PATH,   /* a path; empty allowed */
	KT_CPU,    /* a CPU number, or "none" */
	KT_CPULIST, /* CPU numbers separated by commas, or "none" */
	KT_IMPAIR  /* an impairment spec (src/impair/impair.h); empty: off */
};

struct config_knob {
	const char *section;
	const char *key;
	const char *flag;      /* --flag */
	const char *metavar;   /* its argument in --help */
	enum config_type type;
	unsigned long min, max;
	const char *const *names; /* KT_ENUM: NULL-terminated */
	const char *def;       /* the default, as written in the file */
	const char *help;
	/* Where it goes: offsets into struct config (off2: prefix of an
	 * address), and the field's size for integers. */
	size_t off, off2, size;
};

extern const struct config_knob config_knobs[];
extern const unsigned config_nknobs;

void config_defaults(struct config *c);

/* Set one knob from text. 0, or -1 with what was expected in why
 * ("an integer in 1..256"). */
int config_set(struct config *c, const struct config_knob *k, const char *val,
	       char *why, size_t whylen);

/* Parse an INI file into c. 0, or -1 with "FILE:LINE: ..." in err. */
int config_load_file(struct config *c, const char *path, char *err,
		     size_t errlen);

/* defaults are assumed set: --config FILE first, then every other flag.
 * 0: go on; 1: --help or --print-config-reference printed, exit 0;
 * -1: error in err (exit 2). */
int config_parse_args(struct config *c, int argc, char **argv, char *err,
		      size_t errlen);

/* Cross-knob checks and pointers (strings, CPU list expanded to workers).
 * 0 or -1 with err. Call once, after the file and the flags. */
int config_finish(struct config *c, char *err, size_t errlen);

void config_usage(FILE *f);
/* The README's configuration reference: a Markdown table. */
void config_print_reference(FILE *f);

/* The name of poll mode / log level v. */
const char *config_poll_mode_name(int v);
const char *config_log_level_name(int v);

#endif
