// SPDX-License-Identifier: GPL-2.0-only
//
// stdio capture on fentry/fexit: the same work as stdio.c, on the kernel functions under the syscalls instead of the
// syscall tracepoints. Loaded instead of stdio.c's programs where the kernel lets them attach (most kernels from 5.10
// on; not ours, see docs/kernel.md); internal/capture chooses one set or the other, never both.
//
// Why: enabling any syscall tracepoint sends every syscall of every process on the host through the kernel's slow
// syscall path, whether or not a program cares about that syscall. fentry/fexit trampolines cost only the functions
// they are on. vfs_write, vfs_writev, vfs_read and vfs_readv also hand over the struct file, so the fd walk of the
// tracepoint path disappears for them.
//
// Hooks: fentry+fexit on vfs_write (write, pwrite64), vfs_writev (writev, pwritev, pwritev2), __sys_sendto and
// __sys_sendmsg; fentry on vfs_read (read, pread64), vfs_readv (readv, preadv, preadv2), __sys_recvfrom,
// __sys_recvmsg and the close path (file_close_fd from 6.8, close_fd before; user space picks the one the kernel
// has). vfs_* functions also run for writes by the kernel itself on behalf of a process (e.g. coredumps); those carry
// no user buffer for an MCP stream and leave at the file-type check.
//
// Cost for everything that is not MCP: fentry on vfs_*: the pid helper, then two loads (file->f_inode->i_mode) and a
// compare; fexit: one lookup in mcps_write_args. __sys_send*/recv* pay the fd walk of the tracepoint path.
//
// Limits: those of stdio.c.
#include "mcps.h"

// One continuation program and prog array per fexit hook: a tail call may only enter a program of the same type and
// attach point. The continuations are loaded for their hook but never attached.
//
// And one scratch array per fexit hook. fentry/fexit programs run with migration disabled but, on a preemptible
// kernel, not preemption: a copy can be preempted and another task on the same CPU can run a program meanwhile. The
// kernel never runs the same program twice at once on one CPU (it skips the second run and counts it, which mcpscope
// reports as kernel_skipped_runs; a tail call keeps its caller's guard), so a scratch slot per hook and CPU is never
// shared by two copies in flight. (Tracepoint programs run with preemption disabled and share mcps_scratch.)
#define COPY_PROGS(hook)                                                                                              \
	struct {                                                                                                      \
		__uint(type, BPF_MAP_TYPE_PROG_ARRAY);                                                                \
		__uint(max_entries, 1);                                                                               \
		__type(key, __u32);                                                                                   \
		__type(value, __u32);                                                                                 \
	} mcps_copy_progs_##hook SEC(".maps");                                                                        \
	struct {                                                                                                      \
		__uint(type, BPF_MAP_TYPE_ARRAY);                                                                     \
		__uint(max_entries, 1);                                                                               \
		__type(key, __u32);                                                                                   \
		__type(value, struct mcps_data_event);                                                                \
	} mcps_scratch_##hook SEC(".maps");                                                                           \
	SEC("fexit/" #hook)                                                                                           \
	int mcps_copy_more_##hook(void *ctx) { return copy_more(ctx, &mcps_copy_progs_##hook, &mcps_scratch_##hook); }

COPY_PROGS(vfs_write)
COPY_PROGS(vfs_writev)
COPY_PROGS(__sys_sendto)
COPY_PROGS(__sys_sendmsg)
// Reads copy only TCP streams; these are loaded only with mcps_tcp_on.
COPY_PROGS(vfs_read)
COPY_PROGS(vfs_readv)
COPY_PROGS(__sys_recvfrom)
COPY_PROGS(__sys_recvmsg)

SEC("fentry/vfs_write")
int BPF_PROG(mcps_fentry_vfs_write, struct file *file, const char *buf, size_t count, loff_t *pos)
{
	return write_enter(0, file, true, (__u64)buf, count, 0, 0);
}

SEC("fexit/vfs_write")
int BPF_PROG(mcps_fexit_vfs_write, struct file *file, const char *buf, size_t count, loff_t *pos, ssize_t ret)
{
	return write_exit(ctx, &mcps_copy_progs_vfs_write, &mcps_scratch_vfs_write, 0, ret);
}

SEC("fentry/vfs_writev")
int BPF_PROG(mcps_fentry_vfs_writev, struct file *file, const struct iovec *vec, unsigned long vlen, loff_t *pos,
	     rwf_t flags)
{
	return write_enter(0, file, true, (__u64)vec, 0, 1, vlen);
}

SEC("fexit/vfs_writev")
int BPF_PROG(mcps_fexit_vfs_writev, struct file *file, const struct iovec *vec, unsigned long vlen, loff_t *pos,
	     rwf_t flags, ssize_t ret)
{
	return write_exit(ctx, &mcps_copy_progs_vfs_writev, &mcps_scratch_vfs_writev, 0, ret);
}

SEC("fentry/__sys_sendto")
int BPF_PROG(mcps_fentry_sendto, int fd, void *buff, size_t len, unsigned int flags, struct sockaddr *addr,
	     int addr_len)
{
	return write_enter(fd, NULL, false, (__u64)buff, len, 0, 0);
}

SEC("fexit/__sys_sendto")
int BPF_PROG(mcps_fexit_sendto, int fd, void *buff, size_t len, unsigned int flags, struct sockaddr *addr,
	     int addr_len, int ret)
{
	return write_exit(ctx, &mcps_copy_progs___sys_sendto, &mcps_scratch___sys_sendto, 0, ret);
}

SEC("fentry/__sys_sendmsg")
int BPF_PROG(mcps_fentry_sendmsg, int fd, struct user_msghdr *umsg, unsigned int flags, bool forbid_cmsg_compat)
{
	struct user_msghdr msg = {};
	if (bpf_probe_read_user(&msg, sizeof(msg), umsg))
		return 0;
	return write_enter(fd, NULL, false, (__u64)msg.msg_iov, 0, 1, msg.msg_iovlen);
}

SEC("fexit/__sys_sendmsg")
int BPF_PROG(mcps_fexit_sendmsg, int fd, struct user_msghdr *umsg, unsigned int flags, bool forbid_cmsg_compat,
	     long ret)
{
	return write_exit(ctx, &mcps_copy_progs___sys_sendmsg, &mcps_scratch___sys_sendmsg, 0, ret);
}

SEC("fentry/vfs_read")
int BPF_PROG(mcps_fentry_vfs_read, struct file *file, char *buf)
{
	return read_enter(0, file, true, (__u64)buf, 0, 0);
}

SEC("fentry/vfs_readv")
int BPF_PROG(mcps_fentry_vfs_readv, struct file *file, const struct iovec *vec, unsigned long vlen)
{
	return read_enter(0, file, true, (__u64)vec, 1, vlen);
}

SEC("fentry/__sys_recvfrom")
int BPF_PROG(mcps_fentry_recvfrom, int fd, void *ubuf) { return read_enter(fd, NULL, false, (__u64)ubuf, 0, 0); }

SEC("fentry/__sys_recvmsg")
int BPF_PROG(mcps_fentry_recvmsg, int fd, struct user_msghdr *umsg)
{
	struct user_msghdr msg = {};
	if (mcps_tcp_on && bpf_probe_read_user(&msg, sizeof(msg), umsg))
		return 0;
	return read_enter(fd, NULL, false, (__u64)msg.msg_iov, 1, msg.msg_iovlen);
}

// Exits of the reads of TCP streams (loaded only with mcps_tcp_on).
SEC("fexit/vfs_read")
int BPF_PROG(mcps_tcp_fexit_vfs_read, struct file *file, char *buf, size_t count, loff_t *pos, ssize_t ret)
{
	return write_exit(ctx, &mcps_copy_progs_vfs_read, &mcps_scratch_vfs_read, 0, ret);
}

SEC("fexit/vfs_readv")
int BPF_PROG(mcps_tcp_fexit_vfs_readv, struct file *file, const struct iovec *vec, unsigned long vlen, loff_t *pos,
	     rwf_t flags, ssize_t ret)
{
	return write_exit(ctx, &mcps_copy_progs_vfs_readv, &mcps_scratch_vfs_readv, 0, ret);
}

SEC("fexit/__sys_recvfrom")
int BPF_PROG(mcps_tcp_fexit_recvfrom, int fd, void *ubuf, size_t size, unsigned int flags, struct sockaddr *addr,
	     int *addr_len, int ret)
{
	return write_exit(ctx, &mcps_copy_progs___sys_recvfrom, &mcps_scratch___sys_recvfrom, 0, ret);
}

SEC("fexit/__sys_recvmsg")
int BPF_PROG(mcps_tcp_fexit_recvmsg, int fd, struct user_msghdr *umsg, unsigned int flags, bool forbid_cmsg_compat,
	     long ret)
{
	return write_exit(ctx, &mcps_copy_progs___sys_recvmsg, &mcps_scratch___sys_recvmsg, 0, ret);
}

// The function close(2) calls: file_close_fd (6.8+) or close_fd; user space sets the attach point.
SEC("fentry/close_fd")
int BPF_PROG(mcps_fentry_close, unsigned int fd) { return close_enter(fd); }
