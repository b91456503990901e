# relaylease: plain make. `make`, `make check`, `make install`.
#
# relay-allow, relay-check and relay-session run once per login or SMTP connection, and a
# static musl binary starts in a fraction of the time of a dynamic glibc one (see README,
# "Why musl"). Without musl-tools: make STATICCC=cc STATICLDFLAGS=
# relay-cdb needs tinycdb and is linked with $(CC) against -lcdb.

PREFIX = /usr/local
BINDIR = $(PREFIX)/bin
DESTDIR =
MANDIR = $(PREFIX)/share/man
CC = cc
# CFLAGS, CPPFLAGS and LDFLAGS may come from the environment (dpkg-buildflags, debian/rules)
# or the command line; WARN and STATICLDFLAGS are the project's own and stay whatever they say.
CFLAGS ?= -O2
CPPFLAGS ?=
LDFLAGS ?=
STATICCC = musl-gcc
# Each function in a section of its own, and those no one calls left out: relay-check links
# the store's lookups, not its writers, sweep and listing.
STATICLDFLAGS = -static -ffunction-sections -fdata-sections -Wl,--gc-sections
WARN = -std=c11 -Wall -Wextra -Werror
SANFLAGS = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g
# Where the sources are; the sanitizer build runs this Makefile from san/ with SRC=..
SRC = .

PROGS = relay-allow relay-check relay-query relay-policy relay-expire relay-session relay-cdb relay-import-opensmtp relay-import-dir
MAN8 = relay-allow.8 relay-check.8 relay-query.8 relay-policy.8 relay-expire.8 relay-session.8 relay-cdb.8 relay-import-opensmtp.8 relay-import-dir.8 relay-redis.8
STOREDIR = /var/lib/relaylease
STOREUSER = relaylease
HDRS = $(SRC)/addr.h $(SRC)/buf.h $(SRC)/clock.h $(SRC)/fds.h $(SRC)/io.h $(SRC)/lock.h $(SRC)/log.h \
	$(SRC)/owner.h $(SRC)/replace.h $(SRC)/settings.h $(SRC)/store.h $(SRC)/grant.h $(STOREH) \
	$(REDISH)
# The store: its interface, and the two backends behind it (the directory; Redis, with the
# client in redis/).
STORE = $(SRC)/store.c $(SRC)/store/dir.c $(SRC)/store/redis.c $(REDISC)
STOREH = $(SRC)/store/backend.h $(SRC)/store/dir.h $(SRC)/store/redis.h
REDISH = $(SRC)/redis/client.h $(SRC)/redis/resp.h
CORE = $(SRC)/addr.c $(SRC)/buf.c $(SRC)/clock.c $(SRC)/fds.c $(SRC)/io.c $(SRC)/lock.c $(SRC)/log.c \
	$(SRC)/owner.c $(SRC)/replace.c $(SRC)/settings.c $(STORE)
# relay-check only reads: it never changes ids, and its start-up is what every SMTP connection
# pays, so it is linked without owner.c (and the passwd lookups that would come with it).
CHECKCORE = $(SRC)/addr.c $(SRC)/clock.c $(SRC)/grant.c $(SRC)/io.c $(SRC)/lock.c $(SRC)/log.c \
	$(SRC)/replace.c $(SRC)/settings.c $(STORE)
# cdb mode: the coalescing trigger is plain C (the static login programs link it); the
# tcprules parser goes only into relay-cdb.
TRIGGER = $(SRC)/cdb/trigger.c $(SRC)/cdb/trigger.h
RULES = $(SRC)/cdb/rules.c $(SRC)/cdb/rules.h
SNAPSHOT = $(SRC)/cdb/snapshot.c $(SRC)/cdb/snapshot.h
# relay-cdb's build: the hash map, the merge, the allowances' sources, the cdb writer.
CDBBUILDC = $(SRC)/cdb/map.c $(SRC)/cdb/merge.c $(SRC)/cdb/sources.c $(SRC)/cdb/writer.c
CDBBUILD = $(CDBBUILDC) $(SRC)/cdb/map.h $(SRC)/cdb/merge.h $(SRC)/cdb/sources.h \
	$(SRC)/cdb/writer.h
CDBLIBS = -lcdb
# The Redis client: the RESP codec and the connections with one deadline.
REDISC = $(SRC)/redis/client.c $(SRC)/redis/resp.c
REDIS = $(REDISC) $(SRC)/redis/client.h $(SRC)/redis/resp.h
FUZZSRC = $(SRC)/fuzz/addr.c $(SRC)/fuzz/record.c $(SRC)/fuzz/settings.c $(SRC)/fuzz/rules.c \
	$(SRC)/fuzz/resp.c $(SRC)/fuzz/policy.c
UNITS = tests/unit-addr tests/unit-store tests/unit-settings tests/unit-rules tests/unit-snapshot \
	tests/unit-fuzz-regress tests/unit-owner tests/unit-lock tests/unit-io tests/unit-fds \
	tests/unit-client tests/unit-hostile tests/unit-buf tests/unit-replace tests/unit-map \
	tests/unit-merge tests/unit-sources tests/unit-writer tests/unit-resp tests/unit-redis \
	tests/unit-policy tests/unit-clock tests/unit-grant tests/unit-log tests/unit-trigger
# The unit tests that work in a scratch directory include unit-files.h as well.
UNITFILES = $(SRC)/tests/unit.h $(SRC)/tests/unit-files.h
STANDINS = tests/standins/smtpd tests/standins/popup tests/standins/checkpassword \
	tests/standins/pop3d tests/standins/chat tests/standins/fakeredis
# Test drivers: programs that run one module's calls from a shell test.
DRIVERS = tests/redis-probe tests/policy-pair

all: $(PROGS)

relay-allow: $(SRC)/relay-allow.c $(CORE) $(HDRS) $(TRIGGER)
	$(STATICCC) $(WARN) $(CPPFLAGS) $(CFLAGS) -I$(SRC) -o $@ $(SRC)/relay-allow.c $(CORE) \
		$(SRC)/cdb/trigger.c $(LDFLAGS) $(STATICLDFLAGS)

relay-check: $(SRC)/relay-check.c $(CHECKCORE) $(HDRS)
	$(STATICCC) $(WARN) $(CPPFLAGS) $(CFLAGS) -I$(SRC) -o $@ $(SRC)/relay-check.c $(CHECKCORE) $(LDFLAGS) \
		$(STATICLDFLAGS)

# Exim runs relay-query for each RCPT: it starts as fast as relay-check, and reads as little.
relay-query: $(SRC)/relay-query.c $(CHECKCORE) $(HDRS)
	$(STATICCC) $(WARN) $(CPPFLAGS) $(CFLAGS) -I$(SRC) -o $@ $(SRC)/relay-query.c $(CHECKCORE) $(LDFLAGS) \
		$(STATICLDFLAGS)

# Postfix's policy server: one process per smtpd, which it serves for many requests.
relay-policy: $(SRC)/relay-policy.c $(SRC)/policy.c $(SRC)/policy.h $(CHECKCORE) $(HDRS)
	$(STATICCC) $(WARN) $(CPPFLAGS) $(CFLAGS) -I$(SRC) -o $@ $(SRC)/relay-policy.c $(SRC)/policy.c \
		$(CHECKCORE) $(LDFLAGS) $(STATICLDFLAGS)

# relay-expire runs once a minute, so its start-up does not matter, but it reads whole
# directories: glibc's readdir fetches 32 KiB of names per getdents call, musl's 2 KiB.
relay-expire: $(SRC)/relay-expire.c $(CORE) $(HDRS) $(TRIGGER)
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -I$(SRC) -o $@ $(SRC)/relay-expire.c $(CORE) \
		$(SRC)/cdb/trigger.c $(LDFLAGS)

relay-session: $(SRC)/relay-session.c $(CORE) $(HDRS) $(TRIGGER)
	$(STATICCC) $(WARN) $(CPPFLAGS) $(CFLAGS) -I$(SRC) -o $@ $(SRC)/relay-session.c $(CORE) \
		$(SRC)/cdb/trigger.c $(LDFLAGS) $(STATICLDFLAGS)

# tinycdb cannot link into the static musl programs: relay-cdb alone uses $(CC) and -lcdb.
relay-cdb: $(SRC)/relay-cdb.c $(RULES) $(SNAPSHOT) $(CDBBUILD) $(TRIGGER) $(CORE) $(HDRS)
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -I$(SRC) -o $@ $(SRC)/relay-cdb.c \
		$(SRC)/cdb/rules.c $(SRC)/cdb/snapshot.c $(CDBBUILDC) \
		$(SRC)/cdb/trigger.c $(CORE) $(LDFLAGS) $(CDBLIBS)

relay-import-opensmtp: $(SRC)/relay-import-opensmtp.c $(CORE) $(HDRS) $(TRIGGER)
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -I$(SRC) -o $@ $(SRC)/relay-import-opensmtp.c \
		$(CORE) $(SRC)/cdb/trigger.c $(LDFLAGS)

relay-import-dir: $(SRC)/relay-import-dir.c $(CORE) $(HDRS) $(TRIGGER)
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -I$(SRC) -o $@ $(SRC)/relay-import-dir.c \
		$(CORE) $(SRC)/cdb/trigger.c $(LDFLAGS)

# Test programs: unit tests and the stand-ins for servers Debian does not ship.
testprogs: $(UNITS) $(STANDINS) $(DRIVERS)

tests/unit-addr: $(SRC)/tests/unit-addr.c $(SRC)/tests/unit.h $(CORE) $(HDRS)
	@mkdir -p tests
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -I$(SRC) -o $@ $(SRC)/tests/unit-addr.c $(CORE) $(LDFLAGS)

tests/unit-store: $(SRC)/tests/unit-store.c $(UNITFILES) $(CORE) $(HDRS)
	@mkdir -p tests
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -I$(SRC) -o $@ $(SRC)/tests/unit-store.c $(CORE) $(LDFLAGS)

tests/unit-grant: $(SRC)/tests/unit-grant.c $(UNITFILES) $(SRC)/grant.c $(CORE) $(HDRS)
	@mkdir -p tests
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -I$(SRC) -o $@ $(SRC)/tests/unit-grant.c $(SRC)/grant.c \
		$(CORE) $(LDFLAGS)

tests/unit-log: $(SRC)/tests/unit-log.c $(SRC)/tests/unit.h $(SRC)/log.c $(SRC)/log.h $(SRC)/io.c \
		$(SRC)/io.h
	@mkdir -p tests
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -I$(SRC) -o $@ $(SRC)/tests/unit-log.c $(SRC)/log.c \
		$(SRC)/io.c $(LDFLAGS)

tests/unit-trigger: $(SRC)/tests/unit-trigger.c $(UNITFILES) $(TRIGGER) $(CORE) $(HDRS)
	@mkdir -p tests
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -I$(SRC) -o $@ $(SRC)/tests/unit-trigger.c \
		$(SRC)/cdb/trigger.c $(CORE) $(LDFLAGS)

# t-hostile.sh's inputs, and the parser vectors of other shell tests, through the parsers.
tests/unit-hostile: $(SRC)/tests/unit-hostile.c $(UNITFILES) $(CORE) $(HDRS) $(RULES)
	@mkdir -p tests
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -I$(SRC) -o $@ $(SRC)/tests/unit-hostile.c $(CORE) \
		$(SRC)/cdb/rules.c $(LDFLAGS)

tests/unit-policy: $(SRC)/tests/unit-policy.c $(SRC)/tests/unit.h $(SRC)/policy.c $(SRC)/policy.h \
		$(SRC)/addr.c $(SRC)/addr.h
	@mkdir -p tests
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -I$(SRC) -o $@ $(SRC)/tests/unit-policy.c $(SRC)/policy.c \
		$(SRC)/addr.c $(LDFLAGS)

tests/unit-lock: $(SRC)/tests/unit-lock.c $(SRC)/tests/unit.h $(SRC)/lock.c $(SRC)/lock.h \
		$(SRC)/clock.c $(SRC)/clock.h
	@mkdir -p tests
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -I$(SRC) -o $@ $(SRC)/tests/unit-lock.c $(SRC)/lock.c \
		$(SRC)/clock.c $(LDFLAGS)

tests/unit-clock: $(SRC)/tests/unit-clock.c $(SRC)/tests/unit.h $(SRC)/clock.c $(SRC)/clock.h
	@mkdir -p tests
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -I$(SRC) -o $@ $(SRC)/tests/unit-clock.c $(SRC)/clock.c $(LDFLAGS)

tests/unit-io: $(SRC)/tests/unit-io.c $(SRC)/tests/unit.h $(SRC)/io.c $(SRC)/io.h
	@mkdir -p tests
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -I$(SRC) -o $@ $(SRC)/tests/unit-io.c $(SRC)/io.c $(LDFLAGS)

tests/unit-fds: $(SRC)/tests/unit-fds.c $(SRC)/tests/unit.h $(SRC)/fds.c $(SRC)/fds.h
	@mkdir -p tests
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -I$(SRC) -o $@ $(SRC)/tests/unit-fds.c $(SRC)/fds.c $(LDFLAGS)

tests/unit-client: $(SRC)/tests/unit-client.c $(SRC)/tests/unit.h $(SRC)/addr.c $(SRC)/addr.h
	@mkdir -p tests
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -I$(SRC) -o $@ $(SRC)/tests/unit-client.c $(SRC)/addr.c $(LDFLAGS)

tests/unit-owner: $(SRC)/tests/unit-owner.c $(UNITFILES) $(SRC)/owner.c $(SRC)/owner.h
	@mkdir -p tests
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -I$(SRC) -o $@ $(SRC)/tests/unit-owner.c $(SRC)/owner.c $(LDFLAGS)

tests/unit-settings: $(SRC)/tests/unit-settings.c $(UNITFILES) $(CORE) $(HDRS)
	@mkdir -p tests
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -I$(SRC) -o $@ $(SRC)/tests/unit-settings.c $(CORE) $(LDFLAGS)

tests/unit-rules: $(SRC)/tests/unit-rules.c $(SRC)/tests/unit.h $(RULES) $(SRC)/addr.c $(SRC)/addr.h \
		$(SRC)/buf.c $(SRC)/buf.h
	@mkdir -p tests
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -I$(SRC) -o $@ $(SRC)/tests/unit-rules.c $(SRC)/cdb/rules.c \
		$(SRC)/addr.c $(SRC)/buf.c $(LDFLAGS)

tests/unit-snapshot: $(SRC)/tests/unit-snapshot.c $(SRC)/tests/unit.h $(SNAPSHOT) $(CORE) $(HDRS)
	@mkdir -p tests
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -I$(SRC) -o $@ $(SRC)/tests/unit-snapshot.c \
		$(SRC)/cdb/snapshot.c $(CORE) $(LDFLAGS)

tests/unit-buf: $(SRC)/tests/unit-buf.c $(SRC)/tests/unit.h $(SRC)/buf.c $(SRC)/buf.h
	@mkdir -p tests
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -I$(SRC) -o $@ $(SRC)/tests/unit-buf.c $(SRC)/buf.c $(LDFLAGS)

tests/unit-replace: $(SRC)/tests/unit-replace.c $(UNITFILES) $(SRC)/replace.c \
		$(SRC)/replace.h $(SRC)/io.c $(SRC)/io.h
	@mkdir -p tests
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -I$(SRC) -o $@ $(SRC)/tests/unit-replace.c $(SRC)/replace.c \
		$(SRC)/io.c $(LDFLAGS)

tests/unit-map: $(SRC)/tests/unit-map.c $(SRC)/tests/unit.h $(SRC)/cdb/map.c $(SRC)/cdb/map.h \
		$(SRC)/buf.c $(SRC)/buf.h
	@mkdir -p tests
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -I$(SRC) -o $@ $(SRC)/tests/unit-map.c $(SRC)/cdb/map.c \
		$(SRC)/buf.c $(LDFLAGS)

tests/unit-merge: $(SRC)/tests/unit-merge.c $(SRC)/tests/unit.h $(CDBBUILD) $(RULES) $(CORE) $(HDRS)
	@mkdir -p tests
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -I$(SRC) -o $@ $(SRC)/tests/unit-merge.c $(SRC)/cdb/merge.c \
		$(SRC)/cdb/map.c $(SRC)/cdb/rules.c $(CORE) $(LDFLAGS)

tests/unit-sources: $(SRC)/tests/unit-sources.c $(UNITFILES) $(CDBBUILD) $(SNAPSHOT) \
		$(TRIGGER) $(CORE) $(HDRS)
	@mkdir -p tests
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -I$(SRC) -o $@ $(SRC)/tests/unit-sources.c $(SRC)/cdb/sources.c \
		$(SRC)/cdb/map.c $(SRC)/cdb/snapshot.c $(SRC)/cdb/trigger.c $(CORE) $(LDFLAGS)

tests/unit-writer: $(SRC)/tests/unit-writer.c $(UNITFILES) $(CDBBUILD) $(CORE) $(HDRS)
	@mkdir -p tests
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -I$(SRC) -o $@ $(SRC)/tests/unit-writer.c $(SRC)/cdb/writer.c \
		$(SRC)/replace.c $(SRC)/lock.c $(SRC)/clock.c $(LDFLAGS) $(CDBLIBS)

tests/unit-resp: $(SRC)/tests/unit-resp.c $(SRC)/tests/unit.h $(SRC)/redis/resp.c $(SRC)/redis/resp.h
	@mkdir -p tests
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -I$(SRC) -o $@ $(SRC)/tests/unit-resp.c $(SRC)/redis/resp.c $(LDFLAGS)

tests/unit-redis: $(SRC)/tests/unit-redis.c $(UNITFILES) $(REDIS) $(CORE) $(HDRS)
	@mkdir -p tests
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -I$(SRC) -o $@ $(SRC)/tests/unit-redis.c $(CORE) $(LDFLAGS)

# Static musl, as the programs that will use the client are.
tests/redis-probe: $(SRC)/tests/redis-probe.c $(REDIS) $(CORE) $(HDRS)
	@mkdir -p tests
	$(STATICCC) $(WARN) $(CPPFLAGS) $(CFLAGS) -I$(SRC) -o $@ $(SRC)/tests/redis-probe.c $(CORE) \
		$(LDFLAGS) $(STATICLDFLAGS)

# relay-policy's peer on a socketpair, as spawn(8) is.
tests/policy-pair: $(SRC)/tests/policy-pair.c
	@mkdir -p tests
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -o $@ $(SRC)/tests/policy-pair.c $(LDFLAGS)

# The fuzzers' corpora and crash inputs, replayed through the same property checks.
tests/unit-fuzz-regress: $(SRC)/tests/unit-fuzz-regress.c $(SRC)/tests/unit.h $(SRC)/fuzz/fuzz.h \
		$(FUZZSRC) $(CORE) $(HDRS) $(RULES) $(SRC)/policy.c $(SRC)/policy.h
	@mkdir -p tests
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -DFUZZ_REGRESS -I$(SRC) -o $@ $(SRC)/tests/unit-fuzz-regress.c \
		$(FUZZSRC) $(CORE) $(SRC)/cdb/rules.c $(SRC)/policy.c $(LDFLAGS)

tests/standins/smtpd: $(SRC)/tests/standins/smtpd.c
	@mkdir -p tests/standins
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -o $@ $(SRC)/tests/standins/smtpd.c $(LDFLAGS)

tests/standins/popup: $(SRC)/tests/standins/popup.c
	@mkdir -p tests/standins
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -o $@ $(SRC)/tests/standins/popup.c $(LDFLAGS)

tests/standins/checkpassword: $(SRC)/tests/standins/checkpassword.c
	@mkdir -p tests/standins
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -o $@ $(SRC)/tests/standins/checkpassword.c $(LDFLAGS)

tests/standins/pop3d: $(SRC)/tests/standins/pop3d.c
	@mkdir -p tests/standins
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -o $@ $(SRC)/tests/standins/pop3d.c $(LDFLAGS)

tests/standins/chat: $(SRC)/tests/standins/chat.c
	@mkdir -p tests/standins
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -o $@ $(SRC)/tests/standins/chat.c $(LDFLAGS)

tests/standins/fakeredis: $(SRC)/tests/standins/fakeredis.c
	@mkdir -p tests/standins
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -o $@ $(SRC)/tests/standins/fakeredis.c $(LDFLAGS)

# Everything again with AddressSanitizer and UndefinedBehaviorSanitizer, into san/.
san:
	@mkdir -p san
	cd san && $(MAKE) -f ../Makefile SRC=.. CC='$(CC) $(SANFLAGS)' \
		STATICCC='$(CC) $(SANFLAGS)' STATICLDFLAGS= all testprogs

# The quick suite, both builds, several files at a time (the README's test command runs it).
# One file or one build: sh tests/run san -- t-expire.sh (see tests/run).
check: all testprogs san
	sh $(SRC)/tests/run . san

# The long runs: full fault injection, the 60-second torture, valgrind, lint, the benchmarks'
# smoke mode and a short fuzz of each harness (the files marked "# run: long").
check-all: all testprogs san
	sh $(SRC)/tests/run -l . san

# libFuzzer (Debian clang) with ASan+UBSan, each harness for FUZZ_SECONDS (default 60).
fuzz:
	sh $(SRC)/fuzz/run

# make check runs the torture test for a few seconds; this runs it for a minute per build.
torture: all testprogs san
	TEST_LONG=1 sh $(SRC)/tests/run -l . san -- t-torture.sh

# Static analysis: cppcheck, clang-tidy (the checks in .clang-tidy) and shellcheck over the
# whole tree. tests/t-lint.sh runs the same in make check-all.
lint:
	sh $(SRC)/tests/lint

# The benchmarks print figures against the targets; they are not tests (see bench/README.md).
bench: all
	sh $(SRC)/bench/run

install: all
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8
	for p in $(PROGS); do cp $$p $(DESTDIR)$(BINDIR)/$$p.new && \
		chmod 755 $(DESTDIR)$(BINDIR)/$$p.new && \
		mv -f $(DESTDIR)$(BINDIR)/$$p.new $(DESTDIR)$(BINDIR)/$$p || exit 111; done
	for m in $(MAN8); do cp $(SRC)/man/$$m $(DESTDIR)$(MANDIR)/man8/$$m && \
		chmod 644 $(DESTDIR)$(MANDIR)/man8/$$m || exit 111; done

# Create the store (as root): owned by $(STOREUSER), mode 0755. Safe to run again.
setup:
	sh $(SRC)/run-examples/setup-store $(STOREDIR) $(STOREUSER)

clean:
	rm -f $(PROGS) $(UNITS) $(STANDINS) $(DRIVERS)
	rm -rf san

.PHONY: all testprogs san check check-all fuzz torture lint bench install setup clean
