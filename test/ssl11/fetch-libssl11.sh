#!/bin/sh
# fetch-libssl11.sh DIR: puts OpenSSL 1.1's libssl.so.1.1 and libcrypto.so.1.1 (Debian bullseye, package libssl1.1)
# in DIR, for the HTTPS test of a client on OpenSSL 1.1, which Debian bookworm no longer ships (see ../fetch-deb.sh).
set -eu
dir=$1
files=$(mktemp -d)
trap 'rm -rf "$files"' EXIT
"$(dirname "$0")/../fetch-deb.sh" "deb http://deb.debian.org/debian bullseye main" libssl1.1 1.1.1w-0+deb11u1 "$files"
mkdir -p "$dir"
for lib in libssl.so.1.1 libcrypto.so.1.1; do
	cp "$(find "$files" -name "$lib" -type f | head -n 1)" "$dir/$lib"
done
