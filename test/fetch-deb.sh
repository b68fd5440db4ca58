#!/bin/sh
# fetch-deb.sh SOURCE PACKAGE VERSION DIR: unpacks the files of the Debian package PACKAGE, version VERSION, from the
# apt source line SOURCE ("deb URL SUITE COMPONENT") into DIR, for tests that need a library this system does not
# ship. A private apt configuration is used: nothing is installed and the system's sources are not touched. If the
# archive has moved on from VERSION, the current version is taken and named on stderr.
set -eu
source=$1 pkg=$2 want=$3 out=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$out"
echo "$source" >"$work/sources.list"
apt_opts="-o Dir::Etc::SourceList=$work/sources.list -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists=$work/lists -o Dir::Cache=$work/cache -o APT::Sandbox::User=root"
# shellcheck disable=SC2086
apt-get $apt_opts -qq update
cd "$work"
# shellcheck disable=SC2086
if ! apt-get $apt_opts -qq download "$pkg=$want" 2>/dev/null; then
	# shellcheck disable=SC2086
	apt-get $apt_opts -qq download "$pkg"
	echo "fetch-deb: $pkg $want is gone from the archive; took $(ls "${pkg}"_*.deb)" >&2
fi
cd "$OLDPWD"
dpkg-deb -x "$work/${pkg}"_*.deb "$out"
