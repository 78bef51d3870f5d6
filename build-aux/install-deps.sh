#!/bin/sh
# Install what building and testing vhost-state needs on Debian 12
# (bookworm).  Runs apt-get as root, or through sudo.
set -eu
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
	build-essential autoconf automake autoconf-archive pkg-config \
	libarchive-dev libzstd-dev libjson-c-dev nettle-dev libxml2-dev zlib1g-dev \
	bats bats-support bats-assert bash-completion \
	debhelper dh-autoreconf lintian autopkgtest man-db \
	jq xxd zstd gzip xz-utils bzip2 lz4 openssl python3 python3-jsonschema mandoc bsdutils util-linux procps strace \
	busybox-static lzop \
	ca-certificates debian-archive-keyring \
	valgrind clang-14 libclang-rt-14-dev llvm-14 >/dev/null

# QEMU 10 from bookworm-backports: the front-end whose migration files
# carry back-end state, and qemu-storage-daemon (a real back-end without
# DEVICE_STATE); libvirt 11 from there too (libvirtd, virtlogd, virsh),
# whose save images wrap QEMU's stream.  Through a private copy of the apt
# sources, so nothing under /etc/apt changes.
if ! command -v qemu-storage-daemon >/dev/null || ! command -v qemu-system-x86_64 >/dev/null ||
	! qemu-system-x86_64 --version | grep -q 'version 1[0-9]' ||
	[ ! -x /usr/sbin/libvirtd ] || [ ! -x /usr/sbin/virtlogd ] || ! command -v virsh >/dev/null ||
	! /usr/sbin/libvirtd --version | grep -q ' 1[1-9]\.'; then
	P=$(mktemp -d)
	cp /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources "$P"/ 2>/dev/null || true
	MIRROR=$(apt-get indextargets --no-release-info --format '$(REPO_URI)' \
		'Identifier: Packages' 'Release: bookworm' | head -n1)
	[ -n "$MIRROR" ] || { echo "install-deps: no bookworm apt source to derive a mirror from" >&2; exit 1; }
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR bookworm-backports main" \
		>"$P/backports.list"
	$SUDO apt-get -o Dir::Etc::SourceParts="$P" update -qq
	$SUDO apt-get -o Dir::Etc::SourceParts="$P" install -y -qq --no-install-recommends \
		-t bookworm-backports qemu-utils qemu-system-x86 \
		libvirt-daemon-driver-qemu libvirt-clients libvirt-daemon >/dev/null
	rm -rf "$P"
fi
