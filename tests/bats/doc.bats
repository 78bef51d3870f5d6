#!/usr/bin/env bats
# The repository explains itself: doc/ is linked, its links resolve, and
# source comments point into doc/ rather than at files the repository
# does not have.

load helpers/common

setup() {
	SRC=${VS_SRCDIR:?run the tests through make check (VS_SRCDIR unset)}
}

# links FILE... — every relative Markdown link outside code, one per
# line as "FILE<TAB>TARGET", and each missing file or #anchor as
# "broken FILE -> TARGET".  GitHub's anchor rule: the heading in lower
# case, punctuation dropped, spaces turned into hyphens.
check_links() {
	python3 - "$SRC" "$@" <<'EOF'
import os, re, sys
src, files = sys.argv[1], sys.argv[2:]

def anchors(path):
    seen, out, fence = {}, set(), False
    for line in open(path, encoding='utf-8'):
        if line.startswith('```'):
            fence = not fence
        if fence or not line.startswith('#'):
            continue
        text = line.lstrip('#').strip().lower()
        slug = re.sub(r'[^a-z0-9 _-]', '', text).replace(' ', '-')
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else '%s-%d' % (slug, n))
    return out

for f in files:
    path = os.path.join(src, f)
    fence = False
    for line in open(path, encoding='utf-8'):
        if line.startswith('```'):
            fence = not fence
        if fence:
            continue
        line = re.sub(r'`[^`]*`', '', line)
        for target in re.findall(r'\]\(([^)\s]+)\)', line):
            if re.match(r'[a-z]+:', target):
                continue
            name, _, anchor = target.partition('#')
            dest = os.path.normpath(os.path.join(os.path.dirname(path), name)) if name else path
            print('%s\t%s' % (f, target))
            if not os.path.exists(dest):
                print('broken %s -> %s (no such file)' % (f, target))
            elif anchor and anchor not in anchors(dest):
                print('broken %s -> %s (no such heading)' % (f, target))
EOF
}

doc_pages() {
	(cd "$SRC" && ls doc/*.md)
}

@test "doc: every relative link in doc/ and README.md resolves, file and #anchor" {
	run check_links README.md $(doc_pages)
	assert_success
	# the check itself sees links, so a silent parser cannot pass
	assert_line --regexp $'^README.md\tdoc/README.md$'
	assert_line --regexp $'^doc/architecture.md\tvhost-user.md#2-connecting-and-negotiating$'
	# doc/migration-files.md comes from another branch; until it is there,
	# only links to it may dangle (the next test reports it as a skip)
	local broken
	broken=$(echo "$output" | grep '^broken ' || true)
	if [ ! -e "$SRC/doc/migration-files.md" ]; then
		broken=$(echo "$broken" | grep -vE -- '-> (doc/)?migration-files\.md(#[^ ]*)? \(no such file\)$' || true)
	fi
	assert_equal "$broken" ''
}

@test "doc: doc/migration-files.md is present" {
	[ -e "$SRC/doc/migration-files.md" ] || skip "doc/migration-files.md is not merged yet"
	run check_links $(doc_pages)
	refute_line --partial 'broken '
}

@test "doc: a broken link or anchor is caught (negative control)" {
	mkdir -p "$BATS_TEST_TMPDIR/doc"
	printf '# Title\n\n## 1. Part\n\n[ok](#1-part) [gone](nowhere.md) [bad](#2-missing)\n`[code](ignored.md)`\n' \
		>"$BATS_TEST_TMPDIR/doc/x.md"
	SRC=$BATS_TEST_TMPDIR run check_links doc/x.md
	assert_line 'broken doc/x.md -> nowhere.md (no such file)'
	assert_line 'broken doc/x.md -> #2-missing (no such heading)'
	refute_line --partial '#1-part ('
	refute_line --partial 'ignored.md'
}

@test "doc: README.md links doc/, and doc/README.md indexes every page" {
	run grep -F '](doc/README.md)' "$SRC/README.md"
	assert_success
	for page in $(doc_pages); do
		[ "$page" = doc/README.md ] && continue
		run grep -F "](${page#doc/})" "$SRC/doc/README.md"
		assert_success
	done
}

@test "doc: every doc page is distributed and installed (nobase_dist_doc_DATA)" {
	for page in $(doc_pages); do
		run grep -rqwF --include=Makefile.am --include='*.mk' "$page" "$SRC"
		assert_success
	done
}

# Comment references that only make sense outside the repository.
stray_refs() {
	(cd "$SRC" && grep -rnIE --exclude=doc.bats --exclude='*.log' --exclude='*.trs' --exclude-dir=corpus --exclude-dir=regressions \
		'(^|[^/a-z-])(design|vhost-user|test-peers)\.md|\.\./shared' src tests bench)
	# a section sign that does not follow a doc/ page
	(cd "$SRC" && grep -rnI --exclude=doc.bats --exclude='*.log' --exclude='*.trs' --exclude-dir=corpus --exclude-dir=regressions '§' src tests bench |
		grep -vE 'doc/[a-z-]+\.md §[0-9]')
}

@test "doc: no source comment cites design.md, vhost-user.md, test-peers.md or ../shared" {
	run stray_refs
	assert_output ''
}

@test "doc: the stray-reference check catches what it should (negative control)" {
	mkdir -p "$BATS_TEST_TMPDIR/src"
	printf '/* see design.md §3 */\n/* (vhost-user.md §5.7) */\n/* (§7) */\n/* ../shared/docs */\n' \
		>"$BATS_TEST_TMPDIR/src/a.c"
	printf '/* fine: doc/vhost-user.md §4, doc/formats.md §1 */\n' >"$BATS_TEST_TMPDIR/src/b.c"
	SRC=$BATS_TEST_TMPDIR run stray_refs
	assert_line --partial 'a.c:1:'
	assert_line --partial 'a.c:2:'
	assert_line --partial 'a.c:3:'
	assert_line --partial 'a.c:4:'
	refute_output --partial 'b.c'
}

@test "doc: every 'doc/PAGE §N' and 'doc/vhost-user.md, QUIRK' pointer in the sources exists" {
	local refs ref page sec n=0
	refs=$(cd "$SRC" && grep -rhoIE --exclude=doc.bats --exclude='*.log' --exclude='*.trs' 'doc/[a-z-]+\.md (§[0-9]+(, §[0-9]+)*|, [A-Z][0-9]+)' src tests bench |
		sort -u)
	while IFS= read -r ref; do
		[ -n "$ref" ] || continue
		page=${ref%% *}
		[ -e "$SRC/$page" ] || fail "$ref: no $page"
		for sec in $(echo "${ref#* }" | grep -oE '§[0-9]+' | tr -d '§'); do
			grep -qE "^## $sec\. " "$SRC/$page" || fail "$ref: $page has no section $sec"
			n=$((n + 1))
		done
		sec=$(echo "$ref" | sed -n 's/.*, \([A-Z][0-9]*\)$/\1/p')
		if [ -n "$sec" ]; then
			grep -qE "^\| $sec \|" "$SRC/$page" || fail "$ref: $page has no quirk $sec"
			n=$((n + 1))
		fi
	done <<<"$refs"
	# the sources do point into doc/: an empty list would prove nothing
	[ "$n" -ge 10 ] || fail "only $n pointers into doc/ found"
}

# bats_listing_problems DIR — each tests/bats/*.bats of DIR that is not in
# Makefile.am's BATS_TESTS, or not in exactly one debian/tests test; and
# any BATS_TESTS += in a .mk fragment (the list is kept in one place).
bats_listing_problems() {
	local dir=$1 f n listed
	listed=$(sed -n '/^BATS_TESTS = /,/[^\\]$/p' "$dir/Makefile.am" | grep -oE 'tests/bats/[a-z0-9-]+\.bats')
	for f in "$dir"/tests/bats/*.bats; do
		f=tests/bats/${f##*/}
		grep -qxF "$f" <<<"$listed" || echo "$f: not in Makefile.am's BATS_TESTS"
		n=$(grep -lwF "$f" "$dir"/debian/tests/offline "$dir"/debian/tests/real-* | wc -l)
		[ "$n" = 1 ] || echo "$f: in $n debian/tests tests, not one"
	done
	# the source's own directories only (not a distdir or _build beside them)
	(cd "$dir" && grep -rn --include='*.mk' 'BATS_TESTS *+=' src tests bench build-aux 2>/dev/null |
		sed 's/$/: a bats file listed outside Makefile.am/')
	return 0
}

@test "doc: every bats file is in BATS_TESTS (Makefile.am, nowhere else) and in one autopkgtest test" {
	run bats_listing_problems "$SRC"
	assert_output ''
	# the listing is read: an empty one would pass anything
	run grep -c 'tests/bats/.*\.bats' <(sed -n '/^BATS_TESTS = /,/[^\\]$/p' "$SRC/Makefile.am")
	[ "$output" -ge 20 ] || fail "only $output bats files read from BATS_TESTS"
}

@test "doc: the bats listing check catches what it should (negative control)" {
	local d=$BATS_TEST_TMPDIR/tree
	mkdir -p "$d/tests/bats" "$d/debian/tests" "$d/src"
	cp "$SRC/Makefile.am" "$d/"
	cp "$SRC"/debian/tests/offline "$SRC"/debian/tests/real-* "$d/debian/tests/"
	for f in "$SRC"/tests/bats/*.bats; do : >"$d/tests/bats/${f##*/}"; done
	: >"$d/tests/bats/new.bats"
	sed -i 's| tests/bats/cli.bats | |' "$d/debian/tests/offline"
	printf 'BATS_TESTS += tests/bats/new.bats\n' >"$d/src/area.mk"
	run bats_listing_problems "$d"
	assert_line "tests/bats/new.bats: not in Makefile.am's BATS_TESTS"
	assert_line "tests/bats/new.bats: in 0 debian/tests tests, not one"
	assert_line "tests/bats/cli.bats: in 0 debian/tests tests, not one"
	assert_line --partial "area.mk:1:BATS_TESTS += tests/bats/new.bats: a bats file listed outside Makefile.am"
	assert_equal "${#lines[@]}" 4
}

# helpers/common.bash loads bats-support and bats-assert itself, without
# the 15 forks per test of bats_load_library (a tenth of the suite's CPU:
# tests/README.md).  The same functions must result, and the fast path
# must be the one taken: with this bats-assert, a fallback would only
# mean the time is back.
@test "doc: the helpers load bats-support and bats-assert as bats_load_library does, and without falling back to it" {
	# the functions each way defines, from a shell with none of them
	libfns() (
		for f in $(compgen -A function | grep -E '^(assert|refute|fail$|batslib_)'); do unset -f "$f"; done
		"$1" bats-support && "$1" bats-assert || return
		for f in $(compgen -A function | grep -E '^(assert|refute|fail$|batslib_)'); do declare -f "$f"; done
	)
	libfns bats_load_library >"$BATS_TEST_TMPDIR/theirs"
	libfns vs_load_library >"$BATS_TEST_TMPDIR/ours"
	[ "$(grep -c '^[a-z_]* ()' "$BATS_TEST_TMPDIR/theirs")" -ge 15 ]
	run diff "$BATS_TEST_TMPDIR/theirs" "$BATS_TEST_TMPDIR/ours"
	assert_success
	# a fallback to bats_load_library says so here
	run bash -c "$(declare -f find_in_bats_lib_path vs_load_library)"'
		bats_load_library() { echo "fell back for $1"; }
		vs_load_library bats-support && vs_load_library bats-assert && declare -F assert_output'
	assert_success
	assert_output "assert_output"
}

# The proxy's JSON log names each event by its kind (vs_px_log_event's
# second argument): the schema lists the kinds, doc/json.md names them.
@test "doc: every event kind the proxy logs is in proxy-log.schema.json and doc/json.md, and the schema lists no other" {
	local src schema k
	src=$(grep -rhoE 'vs_px_log_event\([^,]+, "[a-z-]+"' "$SRC/src" | sed -E 's/.*"([a-z-]+)"$/\1/' | sort -u)
	# the kinds are read: an empty list would match an empty enum
	[ "$(echo "$src" | wc -w)" -ge 8 ] || fail "only $(echo "$src" | wc -w) event kinds read from src/"
	schema=$(jq -r '.properties.event.enum[]' "$SRC/schema/proxy-log.schema.json" | sort)
	assert_equal "$schema" "$src"
	for k in $src; do
		grep -q "proxy --log FILE --json.*\`$k\`" "$SRC/doc/json.md" || fail "doc/json.md does not name the event '$k'"
	done
}
