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
	libarchive-dev libzstd-dev libjson-c-dev nettle-dev \
	bats bats-support bats-assert \
	jq xxd zstd python3 mandoc bsdutils util-linux procps \
	ca-certificates debian-archive-keyring \
	valgrind >/dev/null
