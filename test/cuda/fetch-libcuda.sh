#!/bin/sh
# fetch-libcuda.sh DIR: puts NVIDIA's CUDA driver library (Debian bookworm non-free, package libcuda1) in DIR as
# libcuda.so.1, for the test that counts CUDA driver calls (see ../fetch-deb.sh). No GPU is needed to call into it:
# its functions return CUDA_ERROR_NO_DEVICE and kin, and the calls are what is counted.
set -eu
dir=$1
files=$(mktemp -d)
trap 'rm -rf "$files"' EXIT
"$(dirname "$0")/../fetch-deb.sh" "deb http://deb.debian.org/debian bookworm non-free" libcuda1 535.261.03-1 "$files"
lib=$(find "$files" -name 'libcuda.so.*.*' -type f | head -n 1)
test -n "$lib"
mkdir -p "$dir"
cp "$lib" "$dir/libcuda.so.1"
