# mk/fuzz.mk — libFuzzer targets (tests/fuzz/, see its README.md).
#
#   make fuzz                 build build/fuzz/<target> with clang and run
#                             each for FUZZ_TIME seconds (default 60); fails
#                             on a crash, a leak or a broken invariant and
#                             prints the reproducer and how to replay it
#   make fuzz-build           build only
#   make fuzz FUZZ_TARGETS=parse FUZZ_TIME=600
#
# The core (src/core, src/tcp, src/ip) is compiled again here with
# -fsanitize=fuzzer-no-link,address,undefined: libFuzzer needs the coverage
# instrumentation in the code under test, not only in the target.

FUZZ_CC    ?= clang
FUZZ_TIME  ?= 60
FUZZ_BUILD := build/fuzz
FUZZ_SAN   := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS := -O1 -g -std=gnu11 -fno-omit-frame-pointer $(WARN) \
	       -D_GNU_SOURCE -Iinclude -Isrc -MMD -MP $(FUZZ_SAN)
FUZZ_LIBS   = $(shell $(PKG) --libs libsodium 2>/dev/null)

FUZZ_LIB_SRC := $(wildcard src/core/*.c src/tcp/*.c src/ip/*.c)
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_ALL     := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_TARGETS ?= $(FUZZ_ALL)
FUZZ_BIN     := $(FUZZ_ALL:%=$(FUZZ_BUILD)/%)

.PHONY: fuzz fuzz-build
# Objects named only as prerequisites of a pattern rule are intermediate to
# make, which would delete them after each link.
.SECONDARY: $(FUZZ_LIB_OBJ)
$(FUZZ_BUILD)/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(PKG_CFLAGS) -c $< -o $@

$(FUZZ_BUILD)/%: tests/fuzz/fuzz_%.c $(FUZZ_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_OBJ) \
	    $(FUZZ_LIBS)

fuzz-build:
	@bash scripts/deps.sh fuzz
	$(MAKE) --no-print-directory $(FUZZ_BIN)

fuzz: fuzz-build
	FUZZ_TIME=$(FUZZ_TIME) bash scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_TARGETS)

-include $(FUZZ_LIB_OBJ:.o=.d) $(FUZZ_BIN:=.d)
