#!/bin/sh
# fetch-libcuda.sh DIR: puts NVIDIA's CUDA driver library (Debian bookworm non-free, package libcuda1) in DIR as
# libcuda.so.1, for the test that counts CUDA driver calls. No GPU is needed to call into it: its functions return
# CUDA_ERROR_NO_DEVICE and kin, and the calls are what is counted. A private apt configuration is used: nothing is
# installed and the system's sources are not touched. The version is pinned; if the archive has moved on, the
# current one is taken and named.
set -eu
dir=$1
want=535.261.03-1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$dir"
echo "deb http://deb.debian.org/debian bookworm non-free" >"$work/sources.list"
apt_opts="-o Dir::Etc::SourceList=$work/sources.list -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists=$work/lists -o Dir::Cache=$work/cache -o APT::Sandbox::User=root"
# shellcheck disable=SC2086
apt-get $apt_opts -qq update
cd "$work"
# shellcheck disable=SC2086
if ! apt-get $apt_opts -qq download "libcuda1=$want" 2>/dev/null; then
	# shellcheck disable=SC2086
	apt-get $apt_opts -qq download libcuda1
	echo "fetch-libcuda: libcuda1 $want is gone from the archive; took $(ls libcuda1_*.deb)" >&2
fi
dpkg-deb -x libcuda1_*.deb x
lib=$(find x -name 'libcuda.so.*.*' -type f | head -n 1)
test -n "$lib"
cp "$lib" "$OLDPWD/$dir/libcuda.so.1"
