#!/bin/sh
# fetch-kernel.sh — print the directory holding Debian 12's cloud kernel
# unpacked (boot/vmlinuz-*, lib/modules/*/), fetching it first if the cache
# lacks the current version.
#
# The real-guest tests boot this kernel under QEMU.  linux-image-cloud-amd64
# is only a meta package: its dependency names the versioned image package
# (linux-image-6.1.0-N-cloud-amd64), which is what we download.  Nothing is
# installed: a private apt index (bookworm main from the mirror the system
# already uses) and `dpkg-deb -x` into a directory keyed by that version.
#
# Cache: $VHOST_STATE_PEER_CACHE, else $XDG_CACHE_HOME/vhost-state/peers,
# else ~/.cache/vhost-state/peers — never the source tree, so that
# `make distcheck` works on a read-only checkout.
set -eu

cache=${VHOST_STATE_PEER_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/vhost-state/peers}
apt_dir=$cache/apt-bookworm
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/empty"

# One fetcher at a time per cache (parallel test jobs share it).
exec 9>"$cache/.lock-kernel"
flock -w 300 9 || { echo "fetch-kernel.sh: cache lock busy" >&2; exit 1; }

if [ ! -s "$apt_dir/sources.list" ]; then
	mirror=$(apt-get indextargets --no-release-info --format '$(REPO_URI)' \
		'Identifier: Packages' 'Release: bookworm' 2>/dev/null | head -n1)
	[ -n "$mirror" ] || { echo "fetch-kernel.sh: no bookworm apt source to derive a mirror from" >&2; exit 1; }
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bookworm main" \
		>"$apt_dir/sources.list"
fi

set -- -o Dir::Etc::SourceList="$apt_dir/sources.list" -o Dir::Etc::SourceParts="$apt_dir/empty" \
	-o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir/cache" \
	-o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts="$apt_dir/empty" \
	-o APT::Sandbox::User=root

# Refresh the private index at most once a day: the mirror drops the
# previous kernel at each point release.
if [ -z "$(find "$apt_dir/lists" -name '*bookworm*Packages*' -mtime -1 2>/dev/null | head -n1)" ]; then
	apt-get "$@" -qq update >&2
fi

# The meta package's dependency: linux-image-6.1.0-N-cloud-amd64 (= VERSION)
dep=$(apt-cache "$@" show --no-all-versions linux-image-cloud-amd64 2>/dev/null |
	sed -n 's/^Depends: .*\(linux-image-[0-9][0-9.]*-[0-9][0-9]*-cloud-amd64\) (= \([^)]*\)).*/\1 \2/p' | head -n1)
pkg=${dep% *}
version=${dep#* }
case $pkg in
linux-image-6.1.0-*-cloud-amd64) ;;
*) echo "fetch-kernel.sh: cannot resolve linux-image-cloud-amd64 to a 6.1 cloud image (got '$dep')" >&2; exit 1 ;;
esac
root=$cache/$pkg-$(printf '%s' "$version" | tr -c 'A-Za-z0-9.+~-' '_')

if [ ! -f "$root/.complete" ]; then
	rm -rf "$root" "$root.tmp"
	mkdir -p "$root.tmp/debs" "$root.tmp/root"
	(cd "$root.tmp/debs" && apt-get "$@" -qq download "$pkg=$version") >&2
	for d in "$root.tmp"/debs/*.deb; do dpkg-deb -x "$d" "$root.tmp/root"; done
	rm -rf "$root.tmp/debs"
	# Only the kernel and its modules are used; the rest is dead weight.
	rm -rf "$root.tmp/root/usr"
	echo "$pkg $version" >"$root.tmp/version"
	touch "$root.tmp/.complete"
	mv "$root.tmp" "$root"
fi
echo "$root"
