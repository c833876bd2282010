# tundra — userspace TCP/IPv4 stack over a Linux TUN device.
#
#   make                 build build/tundra (release: -O2 -g, frame pointers)
#   make test            install missing deps, build, run unit + integration tests
#   make test SAN=address|undefined|thread|address,undefined
#                        same, built with that sanitizer (into build/san-*/)
#   make unit            unit tests only (no root needed)
#   make demo            tundra in a private netns: ping, echo, iperf3 -c / -R
#   make bench           the benchmark battery, tundra vs kernel-veth, in one run
#   make micro           microbenchmarks of the hot pieces
#   make profile         perf profile of tundra under a benchmark
#   make fuzz            libFuzzer targets, FUZZ_TIME s each (mk/fuzz.mk)
#   make bench-hold      memory per idle connection, HOLD_CONNS=100000 held
#   make bench-veth      kernel-to-kernel baseline over a veth pair
#   make bench-loss      throughput under loss (nftables) and --impair delay
#   make format          clang-format every source file

CC      ?= gcc
SAN     ?=
PKG     ?= pkg-config
DEPS_OK ?= 0

comma := ,
BUILD := build
ifneq ($(SAN),)
BUILD := build/san-$(subst $(comma),-,$(SAN))
endif

PKGS := liburcu liburcu-cds libsodium libcjson inih libpcap
# jemalloc replaces malloc; a sanitizer wants to own malloc itself, so
# sanitized builds use the sanitizer's allocator instead.
ifeq ($(SAN),)
PKGS += jemalloc
# main.c reports jemalloc's statistics (SIGUSR1 "mem" line).
JEMALLOC_CFLAGS := -DTUNDRA_JEMALLOC
endif

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -fno-omit-frame-pointer -pthread $(WARN) -D_GNU_SOURCE \
           -Iinclude -Isrc -MMD -MP
LDFLAGS += -pthread
ifneq ($(SAN),)
CFLAGS  += -fsanitize=$(SAN) -fno-sanitize-recover=all -DTUNDRA_SANITIZE
LDFLAGS += -fsanitize=$(SAN)
endif

PKG_CFLAGS = $(shell $(PKG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell $(PKG) --libs $(PKGS) 2>/dev/null) -lm
CRIT_CFLAGS = $(shell $(PKG) --cflags criterion 2>/dev/null)
CRIT_LIBS   = $(shell $(PKG) --libs criterion 2>/dev/null)

# Everything under src/ except main/ is the library the tests link against.
LIB_SRC  := $(filter-out src/main/%,$(wildcard src/*/*.c))
MAIN_SRC := $(wildcard src/main/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
MAIN_OBJ := $(MAIN_SRC:%.c=$(BUILD)/%.o)

UNIT_SRC := $(wildcard tests/unit/*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
# Microbenchmarks of the library's hot pieces (linked with it).
MICRO_SRC := $(wildcard bench/micro/*.c)
MICRO_BIN := $(MICRO_SRC:bench/micro/%.c=$(BUILD)/bench/micro_%)
# Integration-test programs linked with the library (tests/integration/*.c;
# tun_probe.c is built by its own script, test_tun_errors.sh).
IT_SRC := $(filter-out tests/integration/tun_probe.c,$(wildcard tests/integration/*.c))
IT_BIN := $(IT_SRC:tests/integration/%.c=$(BUILD)/tests/it_%)

.PHONY: all deps test unit integration demo bench bench-hold bench-veth bench-loss micro profile format clean
all: $(BUILD)/tundra $(BENCH_BIN) $(MICRO_BIN) $(IT_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -c $< -o $@

$(BUILD)/libtundra.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(MAIN_OBJ): CFLAGS += $(JEMALLOC_CFLAGS)

$(BUILD)/tundra: $(MAIN_OBJ) $(BUILD)/libtundra.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libtundra.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $(CRIT_CFLAGS) -o $@ $< $(BUILD)/libtundra.a \
	    $(LDFLAGS) $(PKG_LIBS) $(CRIT_LIBS)

$(BUILD)/tests/it_%: tests/integration/%.c $(BUILD)/libtundra.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $@ $< $(BUILD)/libtundra.a \
	    $(LDFLAGS) $(PKG_LIBS)

$(BUILD)/bench/%: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LDFLAGS)

$(BUILD)/bench/micro_%: bench/micro/%.c $(BUILD)/libtundra.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $@ $< $(BUILD)/libtundra.a \
	    $(LDFLAGS) $(PKG_LIBS)

# Deterministic two-core simulator (tests/sim/, see its README.md): each
# tests/sim/NAME.c except the engine sim.c is one binary
# $(BUILD)/tests/sim_NAME; `make unit` runs them (SIM_SEEDS=N per scenario).
SIM_SRC := $(filter-out tests/sim/sim.c,$(wildcard tests/sim/*.c))
SIM_BIN := $(SIM_SRC:tests/sim/%.c=$(BUILD)/tests/sim_%)
$(BUILD)/tests/sim_%: tests/sim/%.c $(BUILD)/tests/sim/sim.o $(BUILD)/libtundra.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $@ $< $(BUILD)/tests/sim/sim.o \
	    $(BUILD)/libtundra.a $(LDFLAGS) $(PKG_LIBS)
.PHONY: sim
# The simulator is single-threaded: under ThreadSanitizer it proves
# nothing and runs ten times slower, so that build only smoke-tests it.
ifeq ($(SAN),thread)
SIM_ENV := SIM_SEEDS=$${SIM_SEEDS:-10}
endif
sim: $(SIM_BIN)
	@set -e; for t in $(SIM_BIN); do echo "== $$t"; $(SIM_ENV) $$t; done
unit: sim
-include $(SIM_BIN:=.d) $(BUILD)/tests/sim/sim.d

deps:
	@bash scripts/deps.sh

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t --jobs 1; done

integration: $(BUILD)/tundra $(BENCH_BIN) $(IT_BIN)
	bash tests/integration/run.sh $(BUILD)

# `make test` installs what is missing first, so it works on a fresh machine.
test: deps
	$(MAKE) --no-print-directory unit integration SAN=$(SAN)

demo: deps
	$(MAKE) --no-print-directory all
	bash scripts/demo.sh $(BUILD)

bench:
	@bash scripts/deps.sh bench
	$(MAKE) --no-print-directory all
	bash bench/run.sh $(BUILD)

micro: all
	@set -e; for b in $(MICRO_BIN); do echo "== $$b"; $$b; done

profile:
	@bash scripts/deps.sh profile
	$(MAKE) --no-print-directory all
	bash scripts/profile.sh $(BUILD)

# Memory per idle connection, HOLD_CONNS (100000) held (bench/hold.sh).
bench-hold:
	$(MAKE) --no-print-directory all
	bash bench/hold.sh $(BUILD)

bench-veth: deps
	$(MAKE) --no-print-directory all
	bash bench/veth_baseline.sh $(BUILD)

bench-loss: deps
	$(MAKE) --no-print-directory all
	bash bench/loss.sh $(BUILD)

include mk/fuzz.mk

format:
	clang-format -i $$(find src include tests bench -name '*.[ch]')

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(MAIN_OBJ:.o=.d) $(UNIT_BIN:=.d) $(BENCH_BIN:=.d) $(MICRO_BIN:=.d) $(IT_BIN:=.d)
