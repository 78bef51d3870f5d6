# Makefile fragment, included by Makefile.am (one non-recursive make).
#
# make check-deb: build the Debian package from a copy of the distributed
# tree (the build tree stays as it is; no network), run lintian on it
# (errors and warnings fail), then run its autopkgtest (debian/tests)
# here with autopkgtest's null runner: that installs the .deb on this
# machine, so it needs root (without, it is skipped, visibly; it fails
# when VHOST_STATE_REQUIRE_PEERS is set); dpkg -r removes it at the end.  The
# Build-Depends and the tests' Depends come from build-aux/install-deps.sh.
# Everything lands in _deb/: the .deb, build.log, lintian.log and
# autopkgtest/ (with each test's .log/.trs under artifacts/).

DEB_DIR = $(abs_top_builddir)/_deb
DEB_FILES = debian/changelog debian/control debian/copyright debian/rules \
	debian/source/format debian/README.source \
	debian/tests/control debian/tests/run-bats debian/tests/installed \
	debian/tests/offline debian/tests/real-virtiofsd debian/tests/real-qemu \
	debian/tests/real-guest
EXTRA_DIST += $(DEB_FILES) build-aux/deb.mk

# The package build must not see this make's flags or jobserver.
DEB_ENV = env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES

# The autopkgtest tests to run (empty: every one in debian/tests/control);
# check-all runs `installed` alone, since make check has run the bats files.
DEB_TESTS =
# Each .bats file runs in one of these autopkgtest tests.
DEB_TIERS = debian/tests/offline debian/tests/real-virtiofsd debian/tests/real-qemu debian/tests/real-guest

check-deb: distdir
	@missing=; for t in $(BATS_TESTS); do \
	  (cd $(srcdir) && grep -qF -- "$$t" $(DEB_TIERS)) || missing="$$missing $$t"; \
	done; \
	test -z "$$missing" || { rm -rf '$(distdir)'; \
	  echo "check-deb: in no autopkgtest test (add to one of $(DEB_TIERS)):$$missing"; exit 1; }
	@d='$(DEB_DIR)'; rm -rf "$$d" && mkdir -p "$$d" && mv '$(distdir)' "$$d/src" || exit 1; \
	t0=`date +%s`; step() { echo "check-deb: $$1 ($$((`date +%s` - t0)) s)"; }; \
	step "dpkg-buildpackage -us -uc -b in $$d/src"; \
	( cd "$$d/src" && $(DEB_ENV) dpkg-buildpackage -us -uc -b -J ) >"$$d/build.log" 2>&1 || { \
	  tail -n 80 "$$d/build.log"; echo "check-deb: the package build failed (all of it in $$d/build.log)"; exit 1; }; \
	step "lintian"; \
	lintian --fail-on error,warning --display-info "$$d"/vhost-state_*.changes >"$$d/lintian.log" 2>&1; rc=$$?; \
	cat "$$d/lintian.log"; \
	test $$rc = 0 || { echo "check-deb: lintian found errors or warnings"; exit 1; }; \
	if test "`id -u`" != 0; then \
	  if test -n "$$VHOST_STATE_REQUIRE_PEERS"; then \
	    echo "check-deb: autopkgtest needs root (it installs the .deb)"; exit 1; fi; \
	  echo "check-deb: SKIP autopkgtest: it needs root (it installs the .deb)"; exit 0; \
	fi; \
	step "autopkgtest (installs the .deb here)"; \
	dpkg-query -W -f '$${Status}\n' vhost-state 2>/dev/null | grep -q ' installed$$' && \
	  echo "check-deb: note: vhost-state was installed before; it is removed at the end"; \
	$(DEB_ENV) autopkgtest --output-dir "$$d/autopkgtest" \
	  --env=VHOST_STATE_PEER_CACHE="$${VHOST_STATE_PEER_CACHE:-$${XDG_CACHE_HOME:-$$HOME/.cache}/vhost-state/peers}" \
	  `for t in $(DEB_TESTS); do printf ' --test-name=%s' $$t; done` \
	  "$$d"/vhost-state_*.deb "$$d/src" -- null; rc=$$?; \
	step "dpkg -r vhost-state"; \
	dpkg -r vhost-state >/dev/null || rc=1; \
	case $$rc in \
	0) ;; \
	8) test -n '$(DEB_TESTS)' || { echo "check-deb: autopkgtest ran no test that is not superficial"; exit 1; }; \
	   echo "check-deb: only DEB_TESTS=$(DEB_TESTS) was asked for: a superficial test, which autopkgtest reports as exit 8" ;; \
	2) if test -n "$$VHOST_STATE_REQUIRE_PEERS"; then \
	     echo "check-deb: a test was skipped (VHOST_STATE_REQUIRE_PEERS is set)"; exit 1; fi; \
	   echo "check-deb: a test was skipped (autopkgtest's summary above)" ;; \
	*) echo "check-deb: autopkgtest failed (exit $$rc; logs in $$d/autopkgtest)"; exit 1 ;; \
	esac; \
	step "done"

clean-local: clean-deb
clean-deb:
	rm -rf $(DEB_DIR)

.PHONY: check-deb clean-deb
