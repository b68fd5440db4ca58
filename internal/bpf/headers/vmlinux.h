// vmlinux.h for CO-RE: kernel types from BTF (bpftool btf dump file /sys/kernel/btf/vmlinux format c).
// Field offsets are relocated at load time, so one header serves every kernel of the architecture.
#pragma once
#if defined(__TARGET_ARCH_arm64)
#include "vmlinux_arm64.h"
#else
#include "vmlinux_x86.h"
#endif
