# Makefile fragment, included by Makefile.am (one non-recursive make).
#
# make bench: throughput, memory and latency of dump and restore, each
# figure beside a baseline measured in the same run on the same bytes
# (bench/README.md).  It is never part of make check: timings are not
# tests.  BENCH_QUICK=1 uses smaller sizes; see bench/run.sh for the rest.
#
# The helpers are check programs, so make check keeps them compiling;
# only make bench runs them.
check_PROGRAMS += bench/time-run bench/mini-frontend bench/sha256
bench_time_run_SOURCES = bench/time-run.c
bench_mini_frontend_SOURCES = bench/mini-frontend.c
bench_sha256_SOURCES = bench/sha256.c
bench_sha256_LDADD = $(NETTLE_LIBS)

EXTRA_DIST += bench/run.sh bench/README.md bench/proxy-overhead.sh bench/mapped-ram.sh bench/preflight.sh bench/migfile.sh

bench: vhost-state tests/backend/fake-backend bench/time-run bench/mini-frontend bench/sha256
	VHOST_STATE='$(abs_top_builddir)/vhost-state' \
	FAKE_BACKEND='$(abs_top_builddir)/tests/backend/fake-backend' \
	TIME_RUN='$(abs_top_builddir)/bench/time-run' \
	MINI_FRONTEND='$(abs_top_builddir)/bench/mini-frontend' \
	SHA256='$(abs_top_builddir)/bench/sha256' \
	VS_SRCDIR='$(abs_top_srcdir)' BENCH_CFLAGS='$(CFLAGS)' \
	bash '$(abs_top_srcdir)/bench/run.sh'

# extract --list on mapped-ram files and sparse libvirt images of 1 GiB and
# 4 GiB guests (real QEMU): the time must not grow with the RAM.
bench-mapped-ram: vhost-state bench/time-run
	VHOST_STATE='$(abs_top_builddir)/vhost-state' \
	TIME_RUN='$(abs_top_builddir)/bench/time-run' \
	VS_SRCDIR='$(abs_top_srcdir)' \
	bash '$(abs_top_srcdir)/bench/mapped-ram.sh'

# The migration-file table of make bench alone (extract against cat,
# inject against cp and cp + sync).
bench-migfile: vhost-state tests/backend/fake-backend bench/time-run
	VHOST_STATE='$(abs_top_builddir)/vhost-state' \
	FAKE_BACKEND='$(abs_top_builddir)/tests/backend/fake-backend' \
	TIME_RUN='$(abs_top_builddir)/bench/time-run' \
	VS_SRCDIR='$(abs_top_srcdir)' \
	bash '$(abs_top_srcdir)/bench/migfile.sh'

.PHONY: bench bench-mapped-ram bench-migfile
