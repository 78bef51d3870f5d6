#!/bin/sh
# The library needs nothing of the command line (doc/architecture.md, "Who
# may include whom"): no symbol that an object of libvhoststate.a leaves
# undefined may be defined only by a front-end object (main.c, cmd-*.c,
# result.c, run-steps.c, progress.c, cleanup.c).  TAP output.
#
# make check sets VS_LIBRARY (the archive) and VS_FRONTEND_OBJECTS (the
# objects of the program that are not in it).  The second case is the
# negative control: cmd-dump.o counted as a library object must be caught.
set -u

lib=${VS_LIBRARY:?VS_LIBRARY is not set}
objs=${VS_FRONTEND_OBJECTS:?VS_FRONTEND_OBJECTS is not set}
NM=${NM:-nm}
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT

# global symbols the given objects or archives define / leave undefined
defined() { "$NM" -g --defined-only "$@" 2>/dev/null | awk 'NF == 3 { print $3 }' | sort -u; }
undefined() { "$NM" -u "$@" 2>/dev/null | awk 'NF == 2 && $1 == "U" { print $2 }' | sort -u; }

# symbols the "library" files use that only the "front end" files define
crossing() {
	# $1: library files, $2: front-end files (space-separated lists)
	# shellcheck disable=SC2086
	undefined $1 >"$tmp/u"
	# shellcheck disable=SC2086
	defined $1 >"$tmp/ld"
	# shellcheck disable=SC2086
	defined $2 >"$tmp/fd"
	comm -23 "$tmp/u" "$tmp/ld" | comm -12 - "$tmp/fd"
}

echo 1..2
for f in "$lib" $objs; do
	if [ ! -s "$f" ]; then
		echo "Bail out! $f is missing: build first"
		exit 1
	fi
done
if [ -z "$(defined "$lib")" ] || [ -z "$(undefined "$lib")" ]; then
	echo "Bail out! $NM lists nothing in $lib"
	exit 1
fi

bad=$(crossing "$lib" "$objs")
if [ -z "$bad" ]; then
	echo "ok 1 - the library uses no symbol that only the front end defines"
else
	echo "not ok 1 - the library uses symbols that only the front end defines:"
	echo "$bad" | sed 's/^/#   /'
fi

dump=
for o in $objs; do
	case $o in */cmd-dump.o) dump=$o ;; esac
done
rest=$(for o in $objs; do [ "$o" = "$dump" ] || printf '%s ' "$o"; done)
caught=$(crossing "$lib $dump" "$rest")
if [ -n "$dump" ] && echo "$caught" | grep -qx 'vs_opt' && echo "$caught" | grep -qx 'vs_save_open'; then
	echo "ok 2 - negative control: cmd-dump.o as a library object is caught (vs_opt, vs_save_open)"
else
	echo "not ok 2 - negative control: cmd-dump.o as a library object was not caught"
	echo "$caught" | sed 's/^/#   /'
fi
