/* test_config.c — the configuration: every key of the INI file parsed and
 * applied, every kind of bad value refused with file:line, key, value and
 * the allowed range, the flags over the file, and the knob table's
 * defaults agreeing with tundra_config_defaults(). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "test_helpers.h"

static char path[64];

/* Write text to a fresh temporary file; its name in path. */
static const char *conf(const char *text)
{
	FILE *f;
	int fd;

	strcpy(path, "/tmp/tundra-test-config.XXXXXX");
	fd = mkstemp(path);
	cr_assert(fd >= 0);
	f = fdopen(fd, "w");
	cr_assert(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static void rm_conf(void)
{
	if (path[0])
		unlink(path);
	path[0] = 0;
}

static struct config c;
static char err[1024];

static int load(const char *text)
{
	config_defaults(&c);
	err[0] = 0;
	return config_load_file(&c, conf(text), err, sizeof(err));
}

/* The file fails to load and err is exactly "PATH:" + tail. */
static void expect_err(const char *text, const char *tail)
{
	char want[1024];

	cr_assert_eq(load(text), -1, "loaded: %s", text);
	snprintf(want, sizeof(want), "%s:%s", path, tail);
	cr_assert_str_eq(err, want);
}

TestSuite(config, .fini = rm_conf);

Test(config, every_key_applied)
{
	static const char text[] =
		"; a comment\n"
		"# another\n"
		"[device]\n"
		"name = tunx7\n"
		"addr = 192.168.5.2/16\n"
		"peer_addr = 192.168.5.1/30\n"
		"mtu = 9000\n"
		"queues = 3\n"
		"txqueuelen = 777\n"
		"offload = off\n"
		"steering = off\n"
		"[threads]\n"
		"workers = 5\n"
		"ring_size = 4096\n"
		"poll_mode = busy\n"
		"io_mode = pipeline\n"
		"spin = 7\n"
		"cpu_rx = 1\n"
		"cpu_tx = 0\n"
		"cpu_workers = 0,1,3\n"
		"[tcp]\n"
		"sndbuf = 65536\n"
		"rcvbuf = 131072\n"
		"time_wait_ms = 1000\n"
		"delack_ms = 0\n"
		"rto_min_ms = 50\n"
		"rto_max_ms = 9000\n"
		"max_retries = 4\n"
		"cc = reno\n"
		"tlp = off\n"
		"[apps]\n"
		"echo = 7007\n"
		"discard = 0\n"
		"source = 1919\n"
		"iperf3 = 5202\n"
		"[log]\n"
		"level = debug\n"
		"[ctl]\n"
		"socket = /run/tundra.sock\n"
		"[capture]\n"
		"pcap = /tmp/x.pcap\n"
		"[stop]\n"
		"grace_ms = 123\n"
		"[limits]\n"
		"syncookies = always\n"
		"syn_backlog = 16\n"
		"max_conns = 5000\n"
		"challenge_ack_limit = 77\n"
		"reass_mem = 1099511627776\n"
		"[faults]\n"
		"impair = loss=1,delay=10,seed=7\n";

	cr_assert_eq(load(text), 0, "%s", err);
	cr_assert_eq(config_finish(&c, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(c.cfg.dev, "tunx7");
	cr_assert_eq(c.cfg.addr, 0xc0a80502u);
	cr_assert_eq(c.cfg.prefix, 16);
	cr_assert_eq(c.cfg.peer_addr, 0xc0a80501u);
	cr_assert_eq(c.cfg.peer_prefix, 30);
	cr_assert_eq(c.cfg.mtu, 9000);
	cr_assert_eq(c.cfg.queues, 3);
	cr_assert_eq(c.cfg.txqueuelen, 777);
	cr_assert_eq(c.cfg.offload, TUNDRA_OFFLOAD_OFF);
	cr_assert_eq(c.cfg.workers, 5);
	cr_assert_eq(c.cfg.ring_size, 4096);
	cr_assert_eq(c.cfg.poll_mode, TUNDRA_POLL_BUSY);
	cr_assert_eq(c.cfg.io_mode, TUNDRA_IO_PIPELINE);
	cr_assert_eq(c.cfg.steering, TUNDRA_STEERING_OFF);
	cr_assert_eq(c.cfg.spin, 7);
	cr_assert_eq(c.cfg.cpu_rx, 1);
	cr_assert_eq(c.cfg.cpu_tx, 0);
	cr_assert_not_null(c.cfg.cpu_workers);
	/* Expanded to the 5 workers, round-robin over the list. */
	cr_assert_eq(c.cfg.cpu_workers[0], 0);
	cr_assert_eq(c.cfg.cpu_workers[1], 1);
	cr_assert_eq(c.cfg.cpu_workers[2], 3);
	cr_assert_eq(c.cfg.cpu_workers[3], 0);
	cr_assert_eq(c.cfg.cpu_workers[4], 1);
	cr_assert_eq(c.cfg.sndbuf, 65536);
	cr_assert_eq(c.cfg.rcvbuf, 131072);
	cr_assert_eq(c.cfg.time_wait_ms, 1000);
	cr_assert_eq(c.cfg.delack_ms, 0);
	cr_assert_eq(c.cfg.rto_min_ms, 50);
	cr_assert_eq(c.cfg.rto_max_ms, 9000);
	cr_assert_eq(c.cfg.max_retries, 4);
	cr_assert_eq(c.cfg.cc, TUNDRA_CC_RENO);
	cr_assert_eq(c.cfg.tlp, 0);
	cr_assert_eq(c.port[APP_ECHO], 7007);
	cr_assert_eq(c.port[APP_DISCARD], 0);
	cr_assert_eq(c.port[APP_SOURCE], 1919);
	cr_assert_eq(c.port[APP_IPERF3], 5202);
	cr_assert_eq(c.cfg.log_level, 3);
	cr_assert_str_eq(c.cfg.ctl_path, "/run/tundra.sock");
	cr_assert_str_eq(c.cfg.pcap_path, "/tmp/x.pcap");
	cr_assert_eq(c.cfg.stop_grace_ms, 123);
	cr_assert_eq(c.cfg.syncookies, 2);
	cr_assert_eq(c.cfg.syn_backlog, 16);
	cr_assert_eq(c.cfg.max_conns, 5000);
	cr_assert_eq(c.cfg.challenge_ack_limit, 77);
	cr_assert_eq(c.cfg.reass_mem, 1ull << 40, "64-bit knob truncated");
	cr_assert_str_eq(c.cfg.impair, "loss=1,delay=10,seed=7");
}

/* Every knob of the table appears in the test above: a new knob must be
 * added there too. */
Test(config, table_size)
{
	cr_assert_eq(config_nknobs, 39);
}

Test(config, other_values)
{
	cr_assert_eq(load("[threads]\npoll_mode = blocking\ncpu_rx = none\n"
			  "cpu_tx = -1\ncpu_workers = none\nworkers = auto\n"
			  "[log]\nlevel = error\n[ctl]\nsocket = @mine\n"
			  "[capture]\npcap =\n"),
		     0, "%s", err);
	cr_assert_eq(config_finish(&c, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.cfg.poll_mode, TUNDRA_POLL_BLOCKING);
	cr_assert_eq(c.cfg.cpu_rx, -1);
	cr_assert_eq(c.cfg.cpu_tx, -1);
	cr_assert_null(c.cfg.cpu_workers);
	cr_assert_geq(c.cfg.workers, 1);
	cr_assert_eq(c.cfg.log_level, 0);
	cr_assert_str_eq(c.cfg.ctl_path, "@mine");
	cr_assert_null(c.cfg.pcap_path);
	cr_assert_eq(c.cfg.cc, TUNDRA_CC_CUBIC, "the default");
	cr_assert_null(c.cfg.impair);
}

/* A bad impairment spec: refused at load, with the spec's own reason. */
Test(config, bad_impair)
{
	expect_err("[faults]\nimpair = loss=200\n",
		   "2: [faults] impair = 'loss=200': expected an impairment "
		   "spec; here, loss=200: expected a percentage in 0..100 (up "
		   "to 4 decimals)");
	expect_err("[faults]\nimpair = delay=5,delay=6\n",
		   "2: [faults] impair = 'delay=5,delay=6': expected an "
		   "impairment spec; here, 'delay' given twice");
}

Test(config, congestion_control)
{
	cr_assert_eq(load("[tcp]\ncc = reno\n"), 0, "%s", err);
	cr_assert_eq(c.cfg.cc, TUNDRA_CC_RENO);
	cr_assert_eq(load("[tcp]\ncc = cubic\n"), 0, "%s", err);
	cr_assert_eq(c.cfg.cc, TUNDRA_CC_CUBIC);
}

/* Each knob's documented default, applied, gives what the defaults set. */
Test(config, table_defaults_match)
{
	struct config d;
	char why[256];

	config_defaults(&c);
	memcpy(&d, &c, sizeof(d));
	for (unsigned i = 0; i < config_nknobs; i++)
		cr_assert_eq(config_set(&d, &config_knobs[i],
					config_knobs[i].def, why, sizeof(why)),
			     0, "%s = '%s': %s", config_knobs[i].key,
			     config_knobs[i].def, why);
	cr_assert_eq(memcmp(&d, &c, sizeof(d)), 0);
}

/* The shipped config/tundra.conf loads and sets every default. */
Test(config, shipped_file)
{
	struct config d;

	config_defaults(&c);
	memcpy(&d, &c, sizeof(d));
	cr_assert_eq(config_load_file(&c, "config/tundra.conf", err,
				      sizeof(err)),
		     0, "%s", err);
	for (unsigned i = 0; i < config_nknobs; i++)
		cr_assert(c.seen[i], "config/tundra.conf lacks [%s] %s",
			  config_knobs[i].section, config_knobs[i].key);
	memset(c.seen, 0, sizeof(c.seen));
	memset(c.seen_line, 0, sizeof(c.seen_line));
	cr_assert_eq(memcmp(&d, &c, sizeof(d)), 0,
		     "config/tundra.conf is not the defaults");
}

Test(config, bad_values)
{
	expect_err("[threads]\nworkers = abc\n",
		   "2: [threads] workers = 'abc': expected an integer in "
		   "1..256 or 'auto'");
	expect_err("[threads]\n\nworkers = 0\n",
		   "3: [threads] workers = '0': expected an integer in "
		   "1..256 or 'auto'");
	expect_err("[threads]\nworkers = 257\n",
		   "2: [threads] workers = '257': expected an integer in "
		   "1..256 or 'auto'");
	expect_err("[threads]\nworkers = -1\n",
		   "2: [threads] workers = '-1': expected an integer in "
		   "1..256 or 'auto'");
	expect_err("[device]\nmtu = 575\n",
		   "2: [device] mtu = '575': expected an integer in 576..65535");
	expect_err("[device]\nmtu = 65536\n",
		   "2: [device] mtu = '65536': expected an integer in 576..65535");
	expect_err("[device]\nmtu = 1500 # big\n",
		   "2: [device] mtu = '1500 # big': expected an integer in "
		   "576..65535");
	expect_err("[device]\nmtu = 99999999999999999999999\n",
		   "2: [device] mtu = '99999999999999999999999': expected an "
		   "integer in 576..65535");
	expect_err("[tcp]\ndelack_ms = 501\n",
		   "2: [tcp] delack_ms = '501': expected an integer in 0..500");
	expect_err("[apps]\necho = 65536\n",
		   "2: [apps] echo = '65536': expected an integer in 0..65535");
	expect_err("[threads]\npoll_mode = fast\n",
		   "2: [threads] poll_mode = 'fast': expected one of "
		   "adaptive|busy|blocking");
	expect_err("[tcp]\ncc = bbr\n",
		   "2: [tcp] cc = 'bbr': expected one of cubic|reno");
	expect_err("[log]\nlevel = trace\n",
		   "2: [log] level = 'trace': expected one of "
		   "error|warn|info|debug");
	expect_err("[device]\naddr = 10.0.0.300/24\n",
		   "2: [device] addr = '10.0.0.300/24': expected an IPv4 "
		   "address with a prefix length in 1..32, like 10.0.0.2/24");
	expect_err("[device]\npeer_addr = 10.0.0.1/33\n",
		   "2: [device] peer_addr = '10.0.0.1/33': expected an IPv4 "
		   "address with a prefix length in 1..32, like 10.0.0.1/24");
	expect_err("[device]\nname = waytoolongdevname\n",
		   "2: [device] name = 'waytoolongdevname': expected a device "
		   "name of 1..15 characters, no '/' or spaces");
	expect_err("[threads]\ncpu_rx = two\n",
		   "2: [threads] cpu_rx = 'two': expected a CPU number in "
		   "0..1023 or 'none'");
}

Test(config, bad_cpu_lists)
{
	static const char *const bad[] = { "0,,1", "0,", ",0", "a,b",
					   "0;1", "1024", "0, 1", "-1" };
	char text[128], want[512];

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "[threads]\ncpu_workers = %s\n",
			 bad[i]);
		snprintf(want, sizeof(want),
			 "2: [threads] cpu_workers = '%s': expected a "
			 "comma-separated list of 1..256 CPU numbers in "
			 "0..1023 (like 0,1), or 'none'",
			 bad[i]);
		expect_err(text, want);
	}
}

Test(config, empty_values)
{
	expect_err("[threads]\nworkers =\n",
		   "2: [threads] workers = '': expected an integer in 1..256 "
		   "or 'auto'");
	expect_err("[device]\nname =\n",
		   "2: [device] name = '': expected a device name of 1..15 "
		   "characters, no '/' or spaces");
	expect_err("[threads]\npoll_mode =\n",
		   "2: [threads] poll_mode = '': expected one of "
		   "adaptive|busy|blocking");
	expect_err("[device]\naddr =\n",
		   "2: [device] addr = '': expected an IPv4 address with a "
		   "prefix length in 1..32, like 10.0.0.2/24");
}

Test(config, structure_errors)
{
	expect_err("[threads]\nworkers = 2\nwokers = 3\n",
		   "3: unknown key 'wokers' in [threads]");
	expect_err("[tcp]\ncongestion = cubic\n",
		   "2: unknown key 'congestion' in [tcp]");
	expect_err("[thread]\nworkers = 2\n", "2: unknown section [thread]");
	expect_err("workers = 2\n",
		   "1: 'workers' is outside any section (put it under "
		   "[section])");
	expect_err("[threads]\nworkers = 2\nworkers = 3\n",
		   "3: [threads] workers given twice (first on line 2)");
	expect_err("[threads]\nworkers 2\n",
		   "2: syntax error: expected '[section]' or 'key = value'");
	expect_err("[threads\nworkers = 2\n",
		   "1: syntax error: expected '[section]' or 'key = value'");
	/* A continuation line (leading space) is a second value. */
	expect_err("[threads]\nworkers = 2\n  3\n",
		   "3: [threads] workers given twice (first on line 2)");
	/* The first error wins, even when a later line is bad too. */
	expect_err("[threads]\nspin = x\nworkers 2\n",
		   "2: [threads] spin = 'x': expected an integer in "
		   "0..16777216");
	expect_err("[threads]\nworkers 2\nspin = x\n",
		   "2: syntax error: expected '[section]' or 'key = value'");
}

Test(config, long_line)
{
	char text[600];

	snprintf(text, sizeof(text), "[capture]\npcap = /tmp/%0400d\n", 0);
	cr_assert_eq(load(text), -1);
	cr_assert(strstr(err, ":2: line longer than"), "%s", err);
}

Test(config, missing_file)
{
	config_defaults(&c);
	cr_assert_eq(config_load_file(&c, "/nonexistent/tundra.conf", err,
				      sizeof(err)),
		     -1);
	cr_assert_str_eq(err,
			 "/nonexistent/tundra.conf: No such file or directory");
}

Test(config, finish_errors)
{
	cr_assert_eq(load("[device]\naddr = 10.0.0.1/24\n"), 0);
	cr_assert_eq(config_finish(&c, err, sizeof(err)), -1);
	cr_assert(strstr(err, "addr and peer_addr are the same"), "%s", err);
	cr_assert_eq(load("[tcp]\nrto_min_ms = 5000\nrto_max_ms = 1000\n"), 0);
	cr_assert_eq(config_finish(&c, err, sizeof(err)), -1);
	cr_assert(strstr(err, "rto_min_ms (5000) is above rto_max_ms (1000)"),
		  "%s", err);
	cr_assert_eq(load("[apps]\necho = 9\n"), 0);
	cr_assert_eq(config_finish(&c, err, sizeof(err)), -1);
	cr_assert(strstr(err, "[apps] echo and discard both use port 9"), "%s",
		  err);
}

static int args(struct config *cc, const char *const *av)
{
	char *argv[128];
	int argc = 0;

	while (av[argc]) {
		argv[argc] = (char *)av[argc];
		argc++;
	}
	argv[argc] = NULL;
	config_defaults(cc);
	err[0] = 0;
	return config_parse_args(cc, argc, argv, err, sizeof(err));
}

Test(config, flags_override_file)
{
	const char *file = conf("[threads]\nworkers = 3\nspin = 9\n"
				"[apps]\necho = 0\n");
	/* --workers before --config still wins over the file. */
	const char *const av[] = { "tundra", "--workers", "2", "--config", file,
				   "--echo-port=77", "--poll-mode", "blocking",
				   "--cpu-workers", "1", NULL };

	cr_assert_eq(args(&c, av), 0, "%s", err);
	cr_assert_eq(config_finish(&c, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.cfg.workers, 2);
	cr_assert_eq(c.cfg.spin, 9);
	cr_assert_eq(c.port[APP_ECHO], 77);
	cr_assert_eq(c.cfg.poll_mode, TUNDRA_POLL_BLOCKING);
	cr_assert_eq(c.cfg.cpu_workers[0], 1);
	cr_assert_eq(c.cfg.cpu_workers[1], 1);
}

Test(config, every_flag)
{
	const char *const av[] = {
		"tundra", "--dev", "t9", "--addr", "10.1.0.2/24", "--peer-addr",
		"10.1.0.1/24", "--mtu", "1400", "--queues", "2", "--txqueuelen",
		"50", "--workers", "4", "--ring-size", "128", "--poll-mode",
		"busy", "--spin", "3", "--cpu-rx", "0", "--cpu-tx", "1",
		"--cpu-workers", "1,0", "--sndbuf", "8192", "--rcvbuf", "16384",
		"--time-wait", "10", "--delack-ms", "5", "--rto-min-ms", "20",
		"--rto-max-ms", "2000", "--max-retries", "3", "--echo-port",
		"1007", "--discard-port", "1009", "--source-port", "1019",
		"--iperf3-port", "0", "--log-level", "warn", "--ctl-socket",
		"@x", "--pcap", "/tmp/p.pcap", "--stop-grace-ms", "10", NULL
	};

	cr_assert_eq(args(&c, av), 0, "%s", err);
	cr_assert_eq(config_finish(&c, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(c.cfg.dev, "t9");
	cr_assert_eq(c.cfg.addr, 0x0a010002u);
	cr_assert_eq(c.cfg.peer_addr, 0x0a010001u);
	cr_assert_eq(c.cfg.mtu, 1400);
	cr_assert_eq(c.cfg.queues, 2);
	cr_assert_eq(c.cfg.txqueuelen, 50);
	cr_assert_eq(c.cfg.workers, 4);
	cr_assert_eq(c.cfg.ring_size, 128);
	cr_assert_eq(c.cfg.poll_mode, TUNDRA_POLL_BUSY);
	cr_assert_eq(c.cfg.spin, 3);
	cr_assert_eq(c.cfg.cpu_rx, 0);
	cr_assert_eq(c.cfg.cpu_tx, 1);
	cr_assert_eq(c.cfg.cpu_workers[2], 1);
	cr_assert_eq(c.cfg.cpu_workers[3], 0);
	cr_assert_eq(c.cfg.sndbuf, 8192);
	cr_assert_eq(c.cfg.rcvbuf, 16384);
	cr_assert_eq(c.cfg.time_wait_ms, 10);
	cr_assert_eq(c.cfg.delack_ms, 5);
	cr_assert_eq(c.cfg.rto_min_ms, 20);
	cr_assert_eq(c.cfg.rto_max_ms, 2000);
	cr_assert_eq(c.cfg.max_retries, 3);
	cr_assert_eq(c.port[APP_ECHO], 1007);
	cr_assert_eq(c.port[APP_DISCARD], 1009);
	cr_assert_eq(c.port[APP_SOURCE], 1019);
	cr_assert_eq(c.port[APP_IPERF3], 0);
	cr_assert_eq(c.cfg.log_level, 1);
	cr_assert_str_eq(c.cfg.ctl_path, "@x");
	cr_assert_str_eq(c.cfg.pcap_path, "/tmp/p.pcap");
	cr_assert_eq(c.cfg.stop_grace_ms, 10);
}

Test(config, flag_errors)
{
	const char *const bad[] = { "tundra", "--workers", "abc", NULL };
	const char *const unknown[] = { "tundra", "--wrokers", "2", NULL };
	const char *const noarg[] = { "tundra", "--workers", NULL };
	const char *const extra[] = { "tundra", "stray", NULL };
	const char *const badfile[] = { "tundra", "--config",
					"/nonexistent/x.conf", NULL };

	cr_assert_eq(args(&c, bad), -1);
	cr_assert_str_eq(err, "--workers: 'abc': expected an integer in "
			      "1..256 or 'auto'");
	cr_assert_eq(args(&c, unknown), -1);
	cr_assert_str_eq(err, "unknown option '--wrokers' (see --help)");
	cr_assert_eq(args(&c, noarg), -1);
	cr_assert_str_eq(err, "--workers needs an argument (see --help)");
	cr_assert_eq(args(&c, extra), -1);
	cr_assert_str_eq(err, "unexpected argument 'stray'");
	cr_assert_eq(args(&c, badfile), -1);
	cr_assert_str_eq(err, "/nonexistent/x.conf: No such file or directory");
}

/* A bad file is reported even when a flag would override the key. */
Test(config, bad_file_with_flag)
{
	const char *file = conf("[threads]\nworkers = abc\n");
	const char *const av[] = { "tundra", "--config", file, "--workers",
				   "2", NULL };
	char want[512];

	cr_assert_eq(args(&c, av), -1);
	snprintf(want, sizeof(want),
		 "%s:2: [threads] workers = 'abc': expected an integer in "
		 "1..256 or 'auto'",
		 file);
	cr_assert_str_eq(err, want);
}

TUNDRA_TSAN_SKIP_MAIN
