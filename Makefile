# blokir build. Plain make + pkg-config; see README.md "Building".
#   make              ./blokir
#   make SANITIZE=1   ASan + UBSan build (also for the tests)
#   make test         unit tests (prove), the include-graph check (tests/layers.t) + system tests
#   make CC=clang     the same with clang; warnings are errors with both
#   make install      PREFIX=/usr/local DESTDIR= SYSCONFDIR=$(PREFIX)/etc (/etc for PREFIX=/usr)
PKGS     := ldns libcrypto libevent libevent_pthreads yaml-0.1 libxxhash libidn2 libfstrm libprotobuf-c libsystemd liburing

# Installation layout. SYSCONFDIR is compiled in: -c defaults to $(SYSCONFDIR)/blokir/blokir.yaml.
PREFIX        ?= /usr/local
SYSCONFDIR    ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
SBINDIR       ?= $(PREFIX)/sbin
MANDIR        ?= $(PREFIX)/share/man
DOCDIR        ?= $(PREFIX)/share/doc/blokir
UNITDIR       ?= $(PREFIX)/lib/systemd/system
LOGROTATEDIR  ?= $(SYSCONFDIR)/logrotate.d
RUNSTATEDIR   ?= /run
CC       ?= cc
CSTD     := -std=c11 -D_GNU_SOURCE
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wformat=2 -Wvla -Wimplicit-fallthrough -Wno-format-nonliteral
HARDEN   := -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE
OPT      ?= -O2 -g
CFLAGS_PKG := $(shell pkg-config --cflags $(PKGS))
LIBS     := $(shell pkg-config --libs $(PKGS)) -lpthread
LDHARDEN := -pie -Wl,-z,relro,-z,now

ifeq ($(FUZZ),1)
  OPT     := -O1 -g -fno-omit-frame-pointer
  SANFL   := -fsanitize=address,undefined,fuzzer-no-link
  HARDEN  := -fPIE
  BUILD   := build/fuzz
  BIN     := build/fuzz/blokir
else ifeq ($(SANITIZE),1)
  OPT     := -O1 -g -fno-omit-frame-pointer
  SANFL   := -fsanitize=address,undefined -fno-sanitize-recover=undefined
  HARDEN  := -fPIE
  BUILD   := build/san
  BIN     := build/san/blokir
else
  SANFL   :=
  BUILD   := build/rel
  BIN     := blokir
endif

ALL_CFLAGS  = $(CSTD) $(OPT) $(WARN) $(HARDEN) $(SANFL) -Iinclude -I$(BUILD)/gen $(CFLAGS_PKG) $(CFLAGS) -MMD -MP
ALL_LDFLAGS = $(SANFL) $(LDHARDEN) $(LDFLAGS)

SRC      := $(wildcard src/*.c)
LIBSRC   := $(filter-out src/main.c,$(SRC))
# Code generated from the schemas in proto/ (protoc-c, Debian's protobuf-c-compiler) goes to
# $(BUILD)/gen and into the library like any module.
GENSRC   := $(BUILD)/gen/dnstap.pb-c.c
LIBOBJ   := $(LIBSRC:src/%.c=$(BUILD)/%.o) $(BUILD)/dnstap.pb-c.o
UNITSRC  := $(wildcard tests/unit/*.c)
UNITBIN  := $(UNITSRC:tests/unit/%.c=$(BUILD)/tests/%.t)
FUZZSRC  := $(wildcard tests/fuzz/fuzz_*.c)

.PHONY: all test unit system clean fuzz bench install FORCE
all: $(BIN)

# The compiled-in paths, rewritten only when they change, so `make install SYSCONFDIR=/etc` after
# a plain `make` rebuilds main.o rather than installing a binary that looks in the wrong place.
$(BUILD)/gen/paths.h: FORCE | $(BUILD)/gen
	@printf '#define BLOKIR_CONFIG_DEFAULT "%s/blokir/blokir.yaml"\n' '$(SYSCONFDIR)' >$@.new
	@cmp -s $@.new $@ && rm -f $@.new || mv -f $@.new $@
$(BUILD)/main.o: $(BUILD)/gen/paths.h

# The sanitizer build's binary stays in build/san, so it never replaces ./blokir by surprise.
$(BIN): $(BUILD)/main.o $(BUILD)/libblokir.a
	$(CC) -o $@ $^ $(ALL_LDFLAGS) $(LIBS)

$(BUILD)/libblokir.a: $(LIBOBJ)
	ar rcs $@ $^

$(BUILD)/%.o: src/%.c | $(BUILD) $(GENSRC)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# Explicit (not pattern) rules: -MP's empty rule for the generated header must not hide them.
$(BUILD)/gen/dnstap.pb-c.c $(BUILD)/gen/dnstap.pb-c.h &: proto/dnstap.proto | $(BUILD)/gen
	protoc-c --c_out=$(BUILD)/gen --proto_path=proto $<

$(BUILD)/dnstap.pb-c.o: $(BUILD)/gen/dnstap.pb-c.c
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/tests/%.t: tests/unit/%.c tests/unit/tap.h tests/unit/testname.h $(BUILD)/libblokir.a | $(BUILD)/tests
	$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libblokir.a $(ALL_LDFLAGS) $(LIBS)

# Fuzz corpus replay: each fuzz target is also linked with a plain main() that runs every file of
# its corpus once, so `make test` exercises the corpus without libFuzzer.
$(BUILD)/tests/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(BUILD)/libblokir.a | $(BUILD)/tests
	$(CC) $(ALL_CFLAGS) -o $@ $< tests/fuzz/replay.c $(BUILD)/libblokir.a $(ALL_LDFLAGS) $(LIBS)

$(BUILD) $(BUILD)/tests $(BUILD)/gen:
	mkdir -p $@

REPLAYBIN := $(FUZZSRC:tests/fuzz/fuzz_%.c=$(BUILD)/tests/replay_%)

# Every test is a TAP producer run directly (--exec ''): compiled unit tests, the fuzz-corpus
# replay and the bash system tests. BLOKIR tells the system tests which binary to start.
export BUILD
export BLOKIR := $(CURDIR)/$(BIN)
unit: $(UNITBIN) $(REPLAYBIN)
	prove --exec '' $(UNITBIN) $(wildcard tests/fuzz/replay.t) tests/layers.t

system: $(BIN)
	prove --exec '' $(wildcard tests/system/*.t)

test: $(BIN) $(UNITBIN) $(REPLAYBIN)
	prove --exec '' $(UNITBIN) $(wildcard tests/fuzz/replay.t) tests/layers.t $(wildcard tests/system/*.t)

# libFuzzer targets (clang only): make fuzz [FUZZTIME=60] [FUZZSEED=N]. Each target runs for
# FUZZTIME seconds, seeded from tests/fuzz/corpus/NAME; what it finds goes to build/fuzz/corpus-NAME
# (copy an input worth keeping into the checked-in corpus, which make test replays). CI passes a
# fixed FUZZSEED so that a verdict on one commit can be reproduced; without it each run explores
# afresh, which is how new inputs are found.
FUZZTIME ?= 60
FUZZSEED ?=
fuzz:
	$(MAKE) FUZZ=1 CC=clang build/fuzz/libblokir.a
	@set -e; for f in $(FUZZSRC); do n=$$(basename $$f .c); c=tests/fuzz/corpus/$${n#fuzz_}; \
	  clang $(CSTD) -O1 -g -fsanitize=fuzzer,address,undefined -Iinclude -Ibuild/fuzz/gen $(CFLAGS_PKG) \
	    -o build/fuzz/$$n $$f build/fuzz/libblokir.a $(LIBS); \
	  mkdir -p build/fuzz/corpus-$$n; echo "== $$n ($(FUZZTIME) s)"; \
	  ./build/fuzz/$$n -max_total_time=$(FUZZTIME) $(if $(FUZZSEED),-seed=$(FUZZSEED)) -timeout=5 -rss_limit_mb=2048 \
	    build/fuzz/corpus-$$n $$c; done

bench: blokir
	bench/run.sh

# Installs under $(DESTDIR)$(PREFIX): the binary, the man pages, the systemd unit, the logrotate
# snippet and an example configuration. An existing $(SYSCONFDIR)/blokir/blokir.yaml is never
# overwritten (the example goes beside it as blokir.yaml.example either way).
SUBST = sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	-e 's|@RUNSTATEDIR@|$(RUNSTATEDIR)|g'
install: $(BIN)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	  $(DESTDIR)$(UNITDIR) $(DESTDIR)$(LOGROTATEDIR) $(DESTDIR)$(SYSCONFDIR)/blokir \
	  $(DESTDIR)$(DOCDIR)/examples
	install -m 755 $(BIN) $(DESTDIR)$(SBINDIR)/blokir
	$(SUBST) doc/blokir.8 >$(DESTDIR)$(MANDIR)/man8/blokir.8
	$(SUBST) doc/blokir-ctl.8 >$(DESTDIR)$(MANDIR)/man8/blokir-ctl.8
	$(SUBST) doc/blokir.yaml.5 >$(DESTDIR)$(MANDIR)/man5/blokir.yaml.5
	$(SUBST) dist/blokir.service >$(DESTDIR)$(UNITDIR)/blokir.service
	$(SUBST) dist/blokir.logrotate >$(DESTDIR)$(LOGROTATEDIR)/blokir
	$(SUBST) dist/blokir.yaml >$(DESTDIR)$(SYSCONFDIR)/blokir/blokir.yaml.example
	install -m 644 policy/telegram-2017.yaml $(DESTDIR)$(DOCDIR)/examples/telegram-2017.yaml
	chmod 644 $(DESTDIR)$(MANDIR)/man8/blokir.8 $(DESTDIR)$(MANDIR)/man8/blokir-ctl.8 \
	  $(DESTDIR)$(MANDIR)/man5/blokir.yaml.5 $(DESTDIR)$(UNITDIR)/blokir.service \
	  $(DESTDIR)$(LOGROTATEDIR)/blokir $(DESTDIR)$(SYSCONFDIR)/blokir/blokir.yaml.example
	[ -e $(DESTDIR)$(SYSCONFDIR)/blokir/blokir.yaml ] || install -m 644 \
	  $(DESTDIR)$(SYSCONFDIR)/blokir/blokir.yaml.example $(DESTDIR)$(SYSCONFDIR)/blokir/blokir.yaml

clean:
	rm -rf build blokir

-include $(wildcard build/*/*.d)
