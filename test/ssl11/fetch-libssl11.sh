#!/bin/sh
# fetch-libssl11.sh DIR: puts OpenSSL 1.1's libssl.so.1.1 and libcrypto.so.1.1 (Debian bullseye, package libssl1.1)
# in DIR, for the HTTPS test of a client on OpenSSL 1.1, which Debian bookworm no longer ships. A private apt
# configuration is used: nothing is installed and the system's sources are not touched. The version is pinned; if
# the archive has moved on, the current one is taken and named.
set -eu
dir=$1
want=1.1.1w-0+deb11u1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$dir"
echo "deb http://deb.debian.org/debian bullseye main" >"$work/sources.list"
apt_opts="-o Dir::Etc::SourceList=$work/sources.list -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists=$work/lists -o Dir::Cache=$work/cache -o APT::Sandbox::User=root"
# shellcheck disable=SC2086
apt-get $apt_opts -qq update
cd "$work"
# shellcheck disable=SC2086
if ! apt-get $apt_opts -qq download "libssl1.1=$want" 2>/dev/null; then
	# shellcheck disable=SC2086
	apt-get $apt_opts -qq download libssl1.1
	echo "fetch-libssl11: libssl1.1 $want is gone from the archive; took $(ls libssl1.1_*.deb)" >&2
fi
dpkg-deb -x libssl1.1_*.deb x
for lib in libssl.so.1.1 libcrypto.so.1.1; do
	cp "$(find x -name "$lib" -type f | head -n 1)" "$OLDPWD/$dir/$lib"
done
