#!/bin/sh
# fetch-trixie.sh PACKAGE — print the directory holding PACKAGE unpacked from
# Debian trixie, fetching it first if the cache lacks that version.
#
# virtiofsd and a vhost-user-capable passt exist only in trixie, whose
# binaries need a newer glibc than bookworm's.  We fetch the debs with a
# private apt configuration (nothing under /etc/apt or dpkg's database is
# touched), unpack them into a root keyed by the package version, and run
# them through trixie's own dynamic loader (see run-peer.sh).
#
# Cache: $VHOST_STATE_PEER_CACHE, else $XDG_CACHE_HOME/vhost-state/peers,
# else ~/.cache/vhost-state/peers — never the source tree, so that
# `make distcheck` works on a read-only checkout.
set -eu

pkg=${1:?usage: fetch-trixie.sh virtiofsd|passt}
case $pkg in
virtiofsd) deps="libc6 libcap-ng0 libseccomp2 libgcc-s1" ;;
passt) deps="libc6" ;;
*) echo "fetch-trixie.sh: unknown package '$pkg'" >&2; exit 2 ;;
esac

cache=${VHOST_STATE_PEER_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/vhost-state/peers}
apt_dir=$cache/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/empty"

# One fetcher at a time per cache (parallel test jobs share it).
exec 9>"$cache/.lock"
flock -w 300 9 || { echo "fetch-trixie.sh: cache lock busy" >&2; exit 1; }

if [ ! -s "$apt_dir/sources.list" ]; then
	mirror=$(apt-get indextargets --no-release-info --format '$(REPO_URI)' \
		'Identifier: Packages' 'Release: bookworm' 2>/dev/null | head -n1)
	[ -n "$mirror" ] || { echo "fetch-trixie.sh: no bookworm apt source to derive a mirror from" >&2; exit 1; }
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" \
		>"$apt_dir/sources.list"
fi

set -- -o Dir::Etc::SourceList="$apt_dir/sources.list" -o Dir::Etc::SourceParts="$apt_dir/empty" \
	-o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir/cache" \
	-o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts="$apt_dir/empty" \
	-o APT::Sandbox::User=root

# Refresh the private index at most once a day.
if [ -z "$(find "$apt_dir/lists" -name '*trixie*Packages*' -mtime -1 2>/dev/null | head -n1)" ]; then
	apt-get "$@" -qq update >&2
	rm -f "$apt_dir"/version.*
fi

# Every file of peer tests asks, and apt-cache loads the whole index for
# each answer: the answer is kept until the next update of the index
# (above; the lock is held, and the lists carry the server's times, so
# comparing them with this file's would not do).
known=$apt_dir/version.$pkg
if [ -s "$known" ]; then
	version=$(cat "$known")
else
	version=$(apt-cache "$@" show --no-all-versions "$pkg" 2>/dev/null | sed -n 's/^Version: //p' | head -n1)
	[ -z "$version" ] || { printf '%s\n' "$version" >"$known.tmp" && mv "$known.tmp" "$known"; }
fi
[ -n "$version" ] || { echo "fetch-trixie.sh: trixie has no package '$pkg'" >&2; exit 1; }
root=$cache/$pkg-$(printf '%s' "$version" | tr -c 'A-Za-z0-9.+~-' '_')

if [ ! -f "$root/.complete" ]; then
	rm -rf "$root" "$root.tmp"
	mkdir -p "$root.tmp/debs" "$root.tmp/root"
	(cd "$root.tmp/debs" && apt-get "$@" -qq download "$pkg" $deps) >&2
	for d in "$root.tmp"/debs/*.deb; do dpkg-deb -x "$d" "$root.tmp/root"; done
	rm -rf "$root.tmp/debs"
	echo "$version" >"$root.tmp/version"
	touch "$root.tmp/.complete"
	mv "$root.tmp" "$root"
fi
echo "$root"
