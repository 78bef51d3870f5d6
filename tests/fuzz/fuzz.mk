# Makefile fragment, included by Makefile.am (one non-recursive make).
#
# libFuzzer targets (tests/fuzz/README.md).  They need clang: the library
# is compiled a second time, with clang's coverage and sanitizers, into
# tests/fuzz/libvhoststate-fuzz.a; each target links it.
#
#   make fuzz [FUZZ_SECONDS=60]  fuzz every target in turn; fails on any
#                                crash, leak or timeout
#   make check                   replays corpus/ and regressions/ once
#
# A new target NAME: tests/fuzz/fuzz-NAME.c, seeds in
# tests/fuzz/corpus/NAME/, its binary in FUZZ_BINS and a two-line rule.

CLANG_FUZZ = clang-14
FUZZ_SECONDS = 60
FUZZ_TIMEOUT = 10
FUZZ_RSS_MB = 2048
# Extra libFuzzer options for make fuzz, e.g. FUZZ_FLAGS=-dict=FILE.
FUZZ_FLAGS =
# Targets fuzzed at once by make fuzz (empty: one per core).
FUZZ_JOBS =

FUZZ_DIFF_BINS = tests/fuzz/fuzz-chunk tests/fuzz/fuzz-reply tests/fuzz/fuzz-container \
	tests/fuzz/fuzz-migfile tests/fuzz/fuzz-decode
FUZZ_BINS = $(FUZZ_DIFF_BINS) $(FUZZ_FAST_BINS)
# The fast targets: one parser each, on memory (no fd, socket or thread
# per input unless the parser reads from a socket), for fuzz-long.
FUZZ_FAST_BINS = tests/fuzz/fuzz-chunk-fast tests/fuzz/fuzz-reply-fast \
	tests/fuzz/fuzz-container-fast tests/fuzz/fuzz-container-zstd-fast \
	tests/fuzz/fuzz-migfile-fast tests/fuzz/fuzz-payload-fast tests/fuzz/fuzz-decode-fast

# fuzz-long's reference: a target that only reads its input (fuzz-baseline.c)
FUZZ_BASELINE = tests/fuzz/fuzz-baseline

FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_COMPILE = $(CLANG_FUZZ) $(DEFS) $(DEFAULT_INCLUDES) $(INCLUDES) $(AM_CPPFLAGS) $(CPPFLAGS) \
	-I$(srcdir)/tests/fuzz $(AM_CFLAGS) -g -O1 $(FUZZ_SAN)
FUZZ_LIB = tests/fuzz/libvhoststate-fuzz.a
FUZZ_DEPS = tests/fuzz/fuzz-common.c tests/fuzz/fuzz-common.h $(FUZZ_LIB)
# The harness is $(srcdir)/$@.c; LIBS_ALL minus the gcc-built library.
FUZZ_LINK = $(AM_V_CCLD)libs=; \
	for l in $(LIBS_ALL) $(LIBS); do \
	  case $$l in *libvhoststate.a) ;; *) libs="$$libs $$l" ;; esac; \
	done; \
	$(FUZZ_COMPILE) -fsanitize=fuzzer -o $@ $(srcdir)/$@.c \
	  $(srcdir)/tests/fuzz/fuzz-common.c $(FUZZ_LIB) $$libs -lpthread

tests/fuzz/fuzz-chunk: tests/fuzz/fuzz-chunk.c $(FUZZ_DEPS)
	$(FUZZ_LINK)
tests/fuzz/fuzz-reply: tests/fuzz/fuzz-reply.c $(FUZZ_DEPS)
	$(FUZZ_LINK)
tests/fuzz/fuzz-container: tests/fuzz/fuzz-container.c $(FUZZ_DEPS)
	$(FUZZ_LINK)
tests/fuzz/fuzz-migfile: tests/fuzz/fuzz-migfile.c $(FUZZ_DEPS)
	$(FUZZ_LINK)
tests/fuzz/fuzz-decode: tests/fuzz/fuzz-decode.c $(FUZZ_DEPS)
	$(FUZZ_LINK)
tests/fuzz/fuzz-chunk-fast: tests/fuzz/fuzz-chunk-fast.c $(FUZZ_DEPS)
	$(FUZZ_LINK)
# its connection reads the input from memory (see the harness)
tests/fuzz/fuzz-reply-fast: tests/fuzz/fuzz-reply-fast.c $(FUZZ_DEPS)
	$(FUZZ_LINK) -Wl,--wrap=sendmsg,--wrap=recvmsg
tests/fuzz/fuzz-container-fast: tests/fuzz/fuzz-container-fast.c $(FUZZ_DEPS)
	$(FUZZ_LINK)
tests/fuzz/fuzz-container-zstd-fast: tests/fuzz/fuzz-container-zstd-fast.c tests/fuzz/fuzz-container-fast.c \
		$(FUZZ_DEPS)
	$(FUZZ_LINK)
# its file is read from memory (see the harness)
tests/fuzz/fuzz-migfile-fast: tests/fuzz/fuzz-migfile-fast.c $(FUZZ_DEPS)
	$(FUZZ_LINK) -Wl,--wrap=fstat,--wrap=pread
tests/fuzz/fuzz-payload-fast: tests/fuzz/fuzz-payload-fast.c $(FUZZ_DEPS)
	$(FUZZ_LINK)
tests/fuzz/fuzz-decode-fast: tests/fuzz/fuzz-decode-fast.c $(FUZZ_DEPS)
	$(FUZZ_LINK)
tests/fuzz/fuzz-baseline: tests/fuzz/fuzz-baseline.c $(FUZZ_DEPS)
	$(FUZZ_LINK)

# Every library source, so a target never misses a new file.  Depending
# on the gcc-built library reuses its header dependency tracking.
$(FUZZ_LIB): libvhoststate.a
	$(AM_V_GEN)rm -rf $@ tests/fuzz/lib && $(MKDIR_P) tests/fuzz/lib && \
	for f in $(libvhoststate_a_SOURCES); do \
	  case $$f in *.c) ;; *) continue ;; esac; \
	  o=tests/fuzz/lib/`echo "$$f" | sed 's|/|_|g; s|\.c$$|.o|'`; \
	  $(FUZZ_COMPILE) -fsanitize=fuzzer-no-link -c -o $$o $(srcdir)/$$f || exit 1; \
	done && \
	$(AR) $(ARFLAGS) $@ tests/fuzz/lib/*.o && $(RANLIB) $@

# make fuzz: the differential targets (check-all runs it); the fast ones
# have fuzz-long.  make check replays the inputs of both.
fuzz: $(FUZZ_DIFF_BINS)
	@CLANG_FUZZ='$(CLANG_FUZZ)' FUZZ_SECONDS='$(FUZZ_SECONDS)' FUZZ_TIMEOUT='$(FUZZ_TIMEOUT)' \
	FUZZ_RSS_MB='$(FUZZ_RSS_MB)' FUZZ_FLAGS='$(FUZZ_FLAGS)' FUZZ_JOBS='$(FUZZ_JOBS)' \
	$(SHELL) $(srcdir)/tests/fuzz/fuzz-run.sh $(FUZZ_DIFF_BINS)

# make fuzz-long [FUZZ_LONG_RUNS=10000000] [FUZZ_LONG_SECONDS=N]: each
# fast target to FUZZ_LONG_RUNS executions (or N seconds), the corpus
# minimised in the tree, the counts recorded in tests/fuzz/README.md.
FUZZ_LONG_RUNS = 10000000
FUZZ_LONG_SECONDS = 0
fuzz-long: $(FUZZ_FAST_BINS) $(FUZZ_BASELINE)
	@CLANG_FUZZ='$(CLANG_FUZZ)' FUZZ_LONG_RUNS='$(FUZZ_LONG_RUNS)' FUZZ_LONG_SECONDS='$(FUZZ_LONG_SECONDS)' \
	FUZZ_TIMEOUT='$(FUZZ_TIMEOUT)' FUZZ_RSS_MB='$(FUZZ_RSS_MB)' FUZZ_LONG_BASELINE='$(FUZZ_BASELINE)' \
	$(SHELL) $(srcdir)/tests/fuzz/fuzz-long.sh $(FUZZ_FAST_BINS)

# make check: every checked-in input once through its target (not in
# distcheck's, configured VS_CHECK_BATS=no: check-all's make check has
# replayed them).
if VS_CHECK_BATS
check_SCRIPTS = $(FUZZ_BINS)
TESTS += tests/fuzz/fuzz-replay.sh
endif

clean-local: clean-fuzz
clean-fuzz:
	rm -rf $(FUZZ_BINS) $(FUZZ_BASELINE) $(FUZZ_LIB) tests/fuzz/lib tests/fuzz/work

EXTRA_DIST += tests/fuzz/README.md tests/fuzz/gen-seeds.py tests/fuzz/gen-fast-seeds.py \
	tests/fuzz/fuzz-run.sh tests/fuzz/fuzz-replay.sh \
	tests/fuzz/fuzz-common.c tests/fuzz/fuzz-common.h \
	tests/fuzz/fuzz-chunk.c tests/fuzz/fuzz-reply.c \
	tests/fuzz/fuzz-container.c tests/fuzz/fuzz-migfile.c tests/fuzz/fuzz-decode.c \
	tests/fuzz/fuzz-chunk-fast.c tests/fuzz/fuzz-reply-fast.c tests/fuzz/fuzz-container-fast.c \
	tests/fuzz/fuzz-container-zstd-fast.c tests/fuzz/fuzz-migfile-fast.c tests/fuzz/fuzz-payload-fast.c \
	tests/fuzz/fuzz-decode-fast.c tests/fuzz/fuzz-baseline.c tests/fuzz/fuzz-long.sh \
	tests/fuzz/corpus tests/fuzz/regressions

.PHONY: fuzz fuzz-long clean-fuzz
