#!/bin/bash
# gen-vmlinux.sh - regenerate vmlinux_x86.h / vmlinux_arm64.h (the kernel types the BPF C is compiled against) from
# a real kernel's BTF. Field offsets are CO-RE-relocated at load time, so one header per architecture serves every
# kernel; a newer kernel's header simply knows more types.
#
#   internal/bpf/headers/gen-vmlinux.sh [x86|arm64|all]     (default: all; then `make generate`)
#
# x86:   from this host's /sys/kernel/btf/vmlinux when the host is x86_64 and has it (X86_SOURCE=host, the default
#        there), else (X86_SOURCE=debian) from the Debian amd64 kernel package $X86_KERNEL.
# arm64: from the Debian arm64 kernel package $ARM64_KERNEL (no arm64 machine needed).
#
# A Debian kernel package is fetched with a private apt configuration under $WORK (its own sources.list, lists and
# cache; -o APT::Architecture=arm64 for the foreign architecture), so the host's apt sources and state are untouched,
# and unpacked with dpkg -x. Its vmlinuz is an ELF-less boot image (arm64: a raw Image; x86: a bzImage with a compressed
# payload) that still carries the kernel's .BTF section: the blob is found by its header (magic 0xeB9F little endian,
# version 1, flags 0, hdr_len 24) and cut to hdr_len + max(type_off + type_len, str_off + str_len) bytes; compressed
# images are first decompressed at each gzip/xz/zstd/bzip2/lzma/lz4 magic, as the kernel's scripts/extract-vmlinux
# does. The blob must parse (`bpftool btf dump file`) before `bpftool btf dump file ... format c` writes the header.
# An ELF vmlinux (e.g. from a linux-image-*-dbg package) given as KERNEL_IMAGE_<arch>=path is used as it is.
#
# env: ARM64_KERNEL (SUITE:PACKAGE, default trixie:linux-image-arm64; meta packages resolve to the current ABI, the
#      exact package and version used are written at the top of the header), X86_KERNEL (trixie:linux-image-amd64),
#      X86_SOURCE (host|debian), KERNEL_IMAGE_x86 / KERNEL_IMAGE_arm64 (use this vmlinuz/vmlinux/raw BTF file instead
#      of downloading), MIRROR (Debian mirror; default: the one this host's apt sources use, else deb.debian.org),
#      WORK (download cache, default /tmp/mcpscope-vmlinux), OUT (output dir, default: this script's directory).
# needs: apt-get, dpkg, bpftool, grep with -P, od; and gzip/xz/zstd/... only for compressed images.
set -euo pipefail
OUT=${OUT:-$(cd "$(dirname "$0")" && pwd)}
WORK=${WORK:-/tmp/mcpscope-vmlinux}
ARM64_KERNEL=${ARM64_KERNEL:-trixie:linux-image-arm64}
X86_KERNEL=${X86_KERNEL:-trixie:linux-image-amd64}
if [ -z "${X86_SOURCE:-}" ]; then
	if [ "$(uname -m)" = x86_64 ] && [ -r /sys/kernel/btf/vmlinux ]; then X86_SOURCE=host; else X86_SOURCE=debian; fi
fi

die() { echo "gen-vmlinux: $*" >&2; exit 1; }
log() { echo "gen-vmlinux: $*" >&2; }
command -v bpftool >/dev/null || die "bpftool not found (apt-get install bpftool)"

# mirror: the Debian mirror this host's own apt sources use (deb822 or one-line format), else deb.debian.org.
mirror() {
	local m
	m=$( (awk '/^URIs:/ {for (i = 2; i <= NF; i++) print $i}' /etc/apt/sources.list.d/*.sources 2>/dev/null
		awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; break}}' \
			/etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null) | grep -i debian | grep -v -- -security | head -n 1) || true
	echo "${MIRROR:-${m:-http://deb.debian.org/debian}}"
}

# fetch SUITE:PACKAGE DEBARCH: download and unpack the kernel package; prints "IMAGE<TAB>description".
fetch() {
	local spec=$1 arch=$2 suite=${1%%:*} pkg=${1#*:}
	local A=$WORK/apt/$suite-$arch m
	local O=(-o Dir::Etc::sourcelist="$A/sources.list" -o Dir::Etc::sourceparts=- -o Dir::State::lists="$A/lists"
		-o Dir::Cache="$A/cache" -o APT::Sandbox::User=root -o APT::Architecture="$arch" -o APT::Architectures="$arch")
	mkdir -p "$A/lists/partial" "$A/cache/archives/partial"
	m=$(mirror)
	echo "deb $m $suite main" >"$A/sources.list"
	case $suite in sid | unstable | experimental) ;; *)
		echo "deb ${m%/debian}/debian-security $suite-security main" >>"$A/sources.list" ;;
	esac
	log "apt update ($suite, $arch)"
	apt-get "${O[@]}" update -qq >&2
	# follow meta packages (linux-image-arm64 -> linux-image-6.12.NN+deb13-arm64)
	local img=$pkg dep
	while dep=$(apt-cache "${O[@]}" depends "$img" | awk '$1=="Depends:" && $2 ~ /^linux-image-/ {print $2; exit}') && [ -n "$dep" ]; do
		img=$dep
	done
	local kver=${img#linux-image-} ver extra
	kver=${kver%-unsigned}
	ver=$(apt-cache "${O[@]}" show "$img" | awk '$1=="Version:" {print $2; exit}')
	[ -n "$ver" ] || die "$spec ($arch): no package $img"
	# newer Debian splits the kernel into linux-binary-/linux-modules-/linux-base-KVER: the image is in linux-binary
	extra=$(apt-cache "${O[@]}" depends "$img" | awk -v k="$kver" '$1=="Depends:" && $2=="linux-binary-"k {print $2}')
	local D=$WORK/debs/$arch-$kver K=$WORK/k/$arch-$kver
	rm -rf "$D" "$K" && mkdir -p "$D" "$K"
	log "download $img $ver ($arch) $extra"
	(cd "$D" && apt-get "${O[@]}" download -qq "$img" ${extra:+"$extra"} >&2)
	local d
	for d in "$D"/*.deb; do dpkg -x "$d" "$K"; done
	local image
	image=$(find "$K/boot" "$K/usr/lib/modules" \( -name 'vmlinuz-*' -o -name vmlinuz \) \( -type f -o -type l \) 2>/dev/null | sort | head -n 1) || true
	[ -n "$image" ] || die "$img: no vmlinuz in the package"
	printf '%s\t%s\n' "$image" "Debian $suite $img $ver ($arch)"
}

# btf_at FILE OUT: cut the first valid BTF blob out of FILE into OUT.
btf_at() {
	local f=$1 out=$2 off type_off type_len str_off str_len end
	# BTF header: u16 magic 0xeB9F, u8 version 1, u8 flags 0, u32 hdr_len 24 (all little endian)
	for off in $(LC_ALL=C grep -obUaP '\x9f\xeb\x01\x00\x18\x00\x00\x00' "$f" | cut -d: -f1); do
		read -r type_off type_len str_off str_len < <(od -An -v -t u4 -j $((off + 8)) -N 16 "$f")
		end=$((type_off + type_len))
		[ $((str_off + str_len)) -gt $end ] && end=$((str_off + str_len))
		tail -c +$((off + 1)) "$f" | head -c $((24 + end)) >"$out"
		if [ "$(stat -c %s "$out")" -eq $((24 + end)) ] && bpftool btf dump file "$out" >/dev/null 2>&1; then
			log "BTF at offset $off: $((24 + end)) bytes"
			return 0
		fi
	done
	return 1
}

# extract_btf IMAGE OUT: raw BTF of a kernel image (ELF vmlinux, raw BTF, raw or compressed boot image) into OUT.
extract_btf() {
	local img=$1 out=$2 tmp
	if [ "$(head -c 4 "$img" | od -An -t x1 | tr -d ' ')" = 7f454c46 ]; then # ELF vmlinux: bpftool reads .BTF itself
		bpftool btf dump file "$img" >/dev/null || die "$img: ELF without usable .BTF"
		cp "$img" "$out"
		return
	fi
	btf_at "$img" "$out" && return
	tmp=$(mktemp)
	# compressed payload (x86 bzImage, gzip'd arm64 Image): try every decompressor at each of its magics
	local magic cmd pos
	for magic in '\x1f\x8b\x08:gzip -dc' '\xfd\x37\x7a\x58\x5a\x00:xz -dc' '\x28\xb5\x2f\xfd:zstd -dcq' \
		'\x42\x5a\x68:bzip2 -dc' '\x5d\x00\x00\x00:xz -dc --format=lzma' '\x02\x21\x4c\x18:lz4 -dc'; do
		cmd=${magic#*:}
		command -v "${cmd%% *}" >/dev/null || continue
		for pos in $(LC_ALL=C grep -obUaP "${magic%%:*}" "$img" | cut -d: -f1 | head -n 20); do
			tail -c +$((pos + 1)) "$img" | $cmd >"$tmp" 2>/dev/null || true
			if [ -s "$tmp" ] && btf_at "$tmp" "$out"; then rm -f "$tmp"; return; fi
		done
	done
	rm -f "$tmp"
	die "$img: no BTF found (kernel built without CONFIG_DEBUG_INFO_BTF?)"
}

# gen ARCH: write $OUT/vmlinux_ARCH.h
gen() {
	local arch=$1 debarch spec image desc var
	case $arch in
	x86) debarch=amd64 spec=$X86_KERNEL ;;
	arm64) debarch=arm64 spec=$ARM64_KERNEL ;;
	*) die "unknown architecture $arch (x86|arm64|all)" ;;
	esac
	var=KERNEL_IMAGE_$arch
	mkdir -p "$WORK"
	if [ -n "${!var:-}" ]; then
		image=${!var} desc="$(basename "${!var}")"
	elif [ "$arch" = x86 ] && [ "$X86_SOURCE" = host ]; then
		image=/sys/kernel/btf/vmlinux desc="/sys/kernel/btf/vmlinux of Linux $(uname -r) ($(uname -m))"
	else
		local got
		got=$(fetch "$spec" "$debarch")
		image=${got%%$'\t'*} desc=${got#*$'\t'}
	fi
	local raw=$WORK/$arch.btf
	if [ "$image" = /sys/kernel/btf/vmlinux ]; then cp "$image" "$raw"; else extract_btf "$image" "$raw"; fi
	local h=$OUT/vmlinux_$arch.h
	{
		echo "// Generated by gen-vmlinux.sh from the BTF of $desc"
		echo "// with $(bpftool version | head -n 1). Do not edit; rerun the script."
		bpftool btf dump file "$raw" format c
	} >"$h.tmp"
	mv "$h.tmp" "$h"
	log "wrote $h ($(wc -l <"$h") lines) from $desc"
}

case ${1:-all} in
all) gen x86; gen arm64 ;;
x86 | arm64) gen "$1" ;;
*) die "usage: $0 [x86|arm64|all]" ;;
esac
