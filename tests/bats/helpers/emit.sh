#!/bin/sh
# emit.sh HEX... — print a raw stream with one chunk per argument (for
# tests that feed a pipe rather than a file).
for chunk in "$@"; do
	printf '%08x%s' $((${#chunk} / 2)) "$chunk" | xxd -r -p
done
printf '00000000' | xxd -r -p
