// SPDX-License-Identifier: GPL-2.0-only
//
// Footprints: what the process trees of MCP servers do on the host, counted in the kernel and cut into epochs so
// that user space can give each tool call exactly its share.
//
// A footprint tree has a root (an MCP server: made in the kernel at its first read of a stdio stream that opened a
// session, fp_auto_root in footprint.h, or by user space) and every process forked under it (mcps_fp_tasks, filled at
// fork in the kernel so that a child's first syscalls count). The root's epoch advances at every MCP read that
// returns bytes and at the entry of every MCP write of the root itself, and each such
// boundary is reported (MCPS_EV_FP_MARK) with the stream offset it reached: user space finds the epoch in which the
// server read a request's last byte and the epoch in which it began writing the response; the syscalls, files,
// programs, connections and CPU counted in the epochs between are the call's.
//
// Hooks and cost:
//   - tp_btf/sys_enter and tp_btf/sys_exit (the raw syscall tracepoints, called directly): every syscall on the
//     host. For a process outside every tree they leave after one hash lookup (mcps_fp_tasks). For a process inside
//     one: a thread-state lookup at entry; at exit, the root's epoch, one counter update (mcps_fp_syscalls: per root,
//     process, epoch, syscall, errno and the thread of the root the work was done for, fp_owner) and one CPU update
//     (mcps_fp_cpus). Opens, connects and listens add one ring-buffer record each.
//   - tp_btf/sched_switch (mcps_switch, loaded without footprints too for the early copies of stdio.c): every context
//     switch; one lookup, and a CPU update for a thread of a tree, so that a thread that computes without syscalls is
//     still accounted to the epoch it ran in.
//   - tp_btf/sched_process_fork, tp_btf/sched_process_exec, tracepoint/sched/sched_process_exit: one lookup each for
//     a process outside every tree.
//
// Limits: a path is reported as the process passed it, and a relative one with the directory it is relative to
// (walked in the kernel up to the process's root); each cut at MCPS_FP_DATA / 2 bytes, argv likewise. CPU time is the
// kernel's utime/stime (tick-sampled: HZ granularity, 4 ms at HZ=250) scaled to sum_exec_runtime by user space. A
// counter that finds its map full is counted (MCPS_STAT_FP_LOST), never written elsewhere. Stdio streams (pipes,
// Unix sockets) mark epochs here; TCP and TLS streams in the capture programs (fp_stream_mark, footprint.h).
#include "footprint.h"

static __always_inline bool fp_read_nr(__s64 nr)
{
	return nr == NR_read || nr == NR_readv || nr == NR_recvfrom || nr == NR_recvmsg || nr == NR_pread64 ||
	       nr == NR_preadv || nr == NR_preadv2;
}

static __always_inline bool fp_write_nr(__s64 nr)
{
	return nr == NR_write || nr == NR_writev || nr == NR_sendto || nr == NR_sendmsg || nr == NR_pwrite64 ||
	       nr == NR_pwritev || nr == NR_pwritev2;
}

// fp_event reserves a full record of kind (file, socket, exec, exit) in root's current epoch, done for the root's
// thread owner.
static __always_inline struct mcps_fp_rec *fp_event(__u8 kind, __u32 root, __u32 owner)
{
	return fp_record(kind, root, owner, fp_epoch(root), sizeof(struct mcps_fp_rec), NULL);
}

// fp_mark advances the root's epoch when fd is an MCP stdio stream, first accounting the CPU the thread used in the
// epoch that ends, and reports the boundary. n is the bytes a read returned (0 for a write, marked at its entry).
static __always_inline void fp_mark(__u32 root, __u32 fd, bool write, __s64 n, struct mcps_fp_thread *th)
{
	struct mcps_stream_key key;
	struct file *file = fd_to_file(fd);
	if (!stream_of_file(file, false, write, &key, NULL))
		return;
	if (key.kind != MCPS_STREAM_PIPE && key.kind != MCPS_STREAM_UNIX)
		return;
	struct mcps_stream *st = bpf_map_lookup_elem(&mcps_streams, &key);
	if (!st || st->state != MCPS_STATE_MCP)
		return;
	// The read position is taken when no write is in flight (writing_begin, stdio.c); until then the root's reads
	// mark nothing, and their epochs run together.
	if (!write && !st->read && st->writing)
		return;
	struct mcps_fp_root *r = bpf_map_lookup_elem(&mcps_fp_roots, &root);
	if (!r)
		return;
	fp_account_cpu((struct task_struct *)bpf_get_current_task(), root, root, (__u32)bpf_get_current_pid_tgid(), th);
	// A write is marked where its bytes will start. A read is marked at the position it reached: counted from the
	// root's first marked read, which takes it from what was written less what still waits in the pipe's buffers
	// or the socket's queue (st->read holds the position + 1; 0: not taken yet).
	__u64 offset = st->offset;
	if (!write && st->read) {
		offset = reserve(&st->read, n) + n - 1;
	} else if (!write) {
		__u64 unread = key.kind == MCPS_STREAM_PIPE ? pipe_unread(file) : unix_unread(file);
		offset = st->offset > unread ? st->offset - unread : 0;
		st->read = offset + 1;
	}
	fp_boundary(r, root, &key, st->gen, offset, write);
}

// Raw BTF tracepoints (tp_btf): the kernel calls them directly, without the perf-event set-up of a classic
// tracepoint, which cost every process on the host ~0.2 µs per syscall and program (docs/benchmarks.md).
SEC("tp_btf/sys_enter")
int BPF_PROG(mcps_fp_sys_enter, struct pt_regs *regs, long nr)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct mcps_fp_task *t = bpf_map_lookup_elem(&mcps_fp_tasks, &tgid);
	if (!t)
		return 0;
	__u32 root = t->root;
	struct mcps_fp_thread *th = fp_thread((__u32)id);
	if (!th)
		return 0;
	th->nr = nr;
	// The arguments are read only for the syscalls whose exit reports them or marks an epoch.
	bool write = root == tgid && fp_write_nr(nr);
	if (write || (root == tgid && fp_read_nr(nr)) || nr == NR_openat || nr == NR_open || nr == NR_creat ||
	    nr == NR_openat2 || nr == NR_connect || nr == NR_listen) {
		th->args[0] = PT_REGS_PARM1_CORE_SYSCALL(regs);
		th->args[1] = PT_REGS_PARM2_CORE_SYSCALL(regs);
		th->args[2] = PT_REGS_PARM3_CORE_SYSCALL(regs);
	}
	if (write)
		fp_mark(root, th->args[0], true, 0, th);
	if (nr == NR_execve || nr == NR_execveat)
		th->exec_epoch = fp_epoch(root) + 1;
	th->enter_ns = bpf_ktime_get_ns();
	return 0;
}

// fp_count adds one call of nr, which returned ret after ns, to the counters of the tree's epoch.
static __always_inline void fp_count(__u32 root, __u32 tgid, __u32 owner, __u64 epoch, __s64 nr, __s64 ret, __u64 ns)
{
	struct mcps_fp_sys_key k = {
		.root = root, .tgid = tgid, .epoch = epoch, .nr = nr,
		.err = (ret < 0 && ret >= -4095) ? -ret : 0, .owner = owner,
	};
	struct mcps_fp_count zero = {};
	struct mcps_fp_count *c = fp_counter(&mcps_fp_syscalls, &k, &zero);
	if (!c)
		return;
	__sync_fetch_and_add(&c->count, 1);
	__sync_fetch_and_add(&c->ns, ns);
}

#define AT_FDCWD -100
// Steps walked up from a directory: components and mount crossings (a deeper path keeps its innermost part).
#define FP_DIR_DEPTH 24

// fp_dir_path writes the components of the absolute path of directory d (mounted at vfs) into out, a record's data,
// innermost first, each ended by a NUL (user space puts them in order), and returns the bytes used (0: the root
// directory), at most MCPS_FP_DATA / 2 - 1. It walks the dentries up to the root of each mount and crosses to the
// mount point below, as d_path does; names are read from the dentries, so a directory removed since still gives the
// name it had. A path deeper than FP_DIR_DEPTH steps (components and mount crossings) keeps its innermost part. A
// name is copied with a constant size, which the verifier can bound: it may spill into the second half of out, which
// the caller fills afterwards.
static __always_inline __u32 fp_dir_path(struct dentry *d, struct vfsmount *vfs, __u8 *out)
{
	// The walk ends at the process's root directory, as d_path's does: a process in a chroot or a container sees
	// its paths from there.
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct dentry *root = BPF_CORE_READ(task, fs, root.dentry);
	struct vfsmount *root_mnt = BPF_CORE_READ(task, fs, root.mnt);
	struct mount *mnt = (struct mount *)((void *)vfs - bpf_core_field_offset(struct mount, mnt));
	__u64 pos = 0;
	for (int i = 0; i < FP_DIR_DEPTH && d; i++) {
		// Masked in assembly (the compiler would drop it): every iteration then starts from the same verifier
		// state, whatever the names' lengths, and the walk stays linear to verify.
		asm volatile("%[pos] &= 255" : [pos] "+r"(pos));
		if (pos >= MCPS_FP_DATA / 2 - 2)
			break;
		if (d == root && vfs == root_mnt)
			break;
		if (d == BPF_CORE_READ(vfs, mnt_root)) {
			struct mount *parent = BPF_CORE_READ(mnt, mnt_parent);
			if (!parent || parent == mnt)
				break; // the root of the namespace
			d = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = parent;
			vfs = (struct vfsmount *)((void *)mnt + bpf_core_field_offset(struct mount, mnt));
			continue;
		}
		struct dentry *parent = BPF_CORE_READ(d, d_parent);
		if (!parent || parent == d)
			break;
		long l = bpf_probe_read_kernel_str(out + pos, MCPS_FP_DATA / 2, BPF_CORE_READ(d, d_name.name));
		if (l <= 1)
			break;
		pos += l; // the name and its NUL
		d = parent;
	}
	asm volatile("%[pos] &= 255" : [pos] "+r"(pos));
	return pos;
}

// fp_file reports an open: the path as passed, its flags, and the result; for a relative path also the directory
// it is relative to (the working directory, or dirfd's), resolved in the kernel at the open's return, so that a
// process that changes directory or exits right after does not make it unknowable.
static __always_inline void fp_file(__u32 root, __u32 owner, __s64 nr, __s64 ret, struct mcps_fp_thread *th)
{
	__u64 path = th->args[1];
	__u32 flags = th->args[2];
	if (nr == NR_open) {
		path = th->args[0];
		flags = th->args[1];
	} else if (nr == NR_creat) {
		path = th->args[0];
		flags = O_CREAT | O_WRONLY | O_TRUNC;
	} else if (nr == NR_openat2) {
		__u64 how_flags = 0;
		bpf_probe_read_user(&how_flags, sizeof(how_flags), (const void *)th->args[2]);
		flags = how_flags;
	}
	struct mcps_fp_rec *rec = fp_event(MCPS_EV_FP_FILE, root, owner);
	if (!rec)
		return;
	rec->result = ret;
	rec->nr = nr;
	rec->flags = flags;
	// The path as passed goes into the second half of data; a relative one's directory into the first.
	__u8 *passed = rec->data + MCPS_FP_DATA / 2;
	long n = bpf_probe_read_user_str(passed, MCPS_FP_DATA / 2, (const void *)path);
	rec->len = n > 0 ? n - 1 : 0;
	if (n > 1 && passed[0] != '/') {
		__s32 dirfd = (nr == NR_openat || nr == NR_openat2) ? (__s32)th->args[0] : AT_FDCWD;
		struct dentry *d = NULL;
		struct vfsmount *vfs = NULL;
		if (dirfd == AT_FDCWD) {
			struct task_struct *task = (struct task_struct *)bpf_get_current_task();
			d = BPF_CORE_READ(task, fs, pwd.dentry);
			vfs = BPF_CORE_READ(task, fs, pwd.mnt);
		} else {
			struct file *dir = fd_to_file(dirfd);
			if (dir) {
				d = BPF_CORE_READ(dir, f_path.dentry);
				vfs = BPF_CORE_READ(dir, f_path.mnt);
			}
		}
		if (d && vfs) {
			// The directory's components, innermost first; +1 so that the root directory (no component) says 1.
			rec->ppid = fp_dir_path(d, vfs, rec->data) + 1;
			bpf_probe_read_user_str(passed, MCPS_FP_DATA / 2, (const void *)path); // over what the walk spilled
		}
	}
	bpf_ringbuf_submit(rec, 0);
}

// fp_socket reports a connect (the address passed) or a listen (the socket's local address).
static __always_inline void fp_socket(__u32 root, __u32 owner, __s64 nr, __s64 ret, struct mcps_fp_thread *th)
{
	struct mcps_fp_rec *rec = fp_event(nr == NR_connect ? MCPS_EV_FP_CONNECT : MCPS_EV_FP_LISTEN, root, owner);
	if (!rec)
		return;
	rec->result = ret;
	rec->nr = nr;
	if (nr == NR_connect) {
		// Constant sizes, which the verifier can bound: sockaddr_in, sockaddr_in6, sockaddr_un.
		__u64 len = th->args[2];
		const void *addr = (const void *)th->args[1];
		long err;
		if (len <= 16) {
			len = 16;
			err = bpf_probe_read_user(rec->data, 16, addr);
		} else if (len <= 28) {
			len = 28;
			err = bpf_probe_read_user(rec->data, 28, addr);
		} else {
			len = 110;
			err = bpf_probe_read_user(rec->data, 110, addr);
		}
		if (err == 0)
			rec->len = len;
	} else {
		struct file *file = fd_to_file(th->args[0]);
		struct socket *sock = file ? BPF_CORE_READ(file, private_data) : NULL;
		struct sock *sk = sock ? BPF_CORE_READ(sock, sk) : NULL;
		if (sk) {
			struct mcps_tcp_conn *c = (struct mcps_tcp_conn *)rec->data;
			c->family = BPF_CORE_READ(sk, __sk_common.skc_family);
			c->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
			c->dport = 0;
			c->_pad = 0;
			if (c->family == AF_INET)
				bpf_core_read(c->saddr, 4, &sk->__sk_common.skc_rcv_saddr);
			else if (c->family == AF_INET6)
				bpf_core_read(c->saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
			rec->len = sizeof(*c);
		}
	}
	bpf_ringbuf_submit(rec, 0);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(mcps_fp_sys_exit, struct pt_regs *regs, long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct mcps_fp_task *t = bpf_map_lookup_elem(&mcps_fp_tasks, &tgid);
	if (!t)
		return 0;
	__u32 root = t->root;
	__u32 tid = (__u32)id;
	struct mcps_fp_thread *th = bpf_map_lookup_elem(&mcps_fp_threads, &tid);
	if (!th || th->nr < 0)
		return 0; // the entry was not seen: the thread joined the tree inside this syscall (fork's child, exec)
	__s64 nr = th->nr;
	th->nr = -1;
	__u32 owner = fp_owner(t, tgid, tid);
	__u64 epoch = th->exec_epoch ? th->exec_epoch - 1 : fp_epoch(root);
	th->exec_epoch = 0;
	fp_count(root, tgid, owner, epoch, nr, ret, bpf_ktime_get_ns() - th->enter_ns);
	if (nr == NR_openat || nr == NR_open || nr == NR_creat || nr == NR_openat2)
		fp_file(root, owner, nr, ret, th);
	else if (nr == NR_connect || (nr == NR_listen && ret == 0))
		fp_socket(root, owner, nr, ret, th);
	else if (root == tgid && ret > 0 && fp_read_nr(nr))
		fp_mark(root, th->args[0], false, ret, th);
	fp_account_cpu((struct task_struct *)bpf_get_current_task(), tgid, root, owner, th);
	return 0;
}

// One program on sched_switch for both of its jobs, loaded with or without footprints: a second program there would
// cost every context switch on the host a second program entry.
SEC("tp_btf/sched_switch")
int BPF_PROG(mcps_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	early_switch(prev); // large pipe writes (stdio.c)
	if (!mcps_fp_on)
		return 0;
	__u32 tgid = prev->tgid;
	struct mcps_fp_task *t = bpf_map_lookup_elem(&mcps_fp_tasks, &tgid);
	if (!t)
		return 0;
	__u32 tid = prev->pid;
	struct mcps_fp_thread *th = bpf_map_lookup_elem(&mcps_fp_threads, &tid);
	if (th)
		fp_account_cpu(prev, tgid, t->root, fp_owner(t, tgid, tid), th);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(mcps_fp_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid;
	struct mcps_fp_task *t = bpf_map_lookup_elem(&mcps_fp_tasks, &ptgid);
	if (!t)
		return 0;
	// A process started by a thread of the root works for that thread (a server that runs each call on a thread of
	// its own starts a call's programs from it); one started further down inherits its parent's.
	struct mcps_fp_task ct = {.root = t->root, .owner = fp_owner(t, ptgid, parent->pid)};
	__u32 ctgid = child->tgid, ctid = child->pid;
	struct mcps_fp_thread fresh = {.nr = -1};
	bpf_map_update_elem(&mcps_fp_threads, &ctid, &fresh, BPF_ANY);
	if (ctgid != ptgid)
		bpf_map_update_elem(&mcps_fp_tasks, &ctgid, &ct, BPF_ANY);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(mcps_fp_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = p->tgid;
	struct mcps_fp_task *t = bpf_map_lookup_elem(&mcps_fp_tasks, &tgid);
	if (!t)
		return 0;
	// Charged to the epoch in which the execve began (mcps_fp_thread.exec_epoch), under the thread's id from before
	// the exec (a thread other than the leader takes the leader's id in it).
	__u32 tid = old_pid;
	struct mcps_fp_thread *th = bpf_map_lookup_elem(&mcps_fp_threads, &tid);
	__u64 epoch = th && th->exec_epoch ? th->exec_epoch - 1 : fp_epoch(t->root);
	struct mcps_fp_rec *rec =
		fp_record(MCPS_EV_FP_EXEC, t->root, fp_owner(t, tgid, p->pid), epoch, sizeof(struct mcps_fp_rec), NULL);
	if (!rec)
		return 0;
	rec->ppid = BPF_CORE_READ(p, real_parent, tgid);
	long n = bpf_probe_read_kernel_str(rec->data, MCPS_FP_DATA / 2, BPF_CORE_READ(bprm, filename));
	__u32 used = n > 0 ? n : 0; // the filename and its NUL
	__u64 start = BPF_CORE_READ(p, mm, arg_start), end = BPF_CORE_READ(p, mm, arg_end);
	__u64 alen = end > start ? end - start : 0;
	if (alen > MCPS_FP_DATA / 2 - 1)
		alen = MCPS_FP_DATA / 2 - 1;
	if (used <= MCPS_FP_DATA / 2 && bpf_probe_read_user(rec->data + used, alen & (MCPS_FP_DATA / 2 - 1), (const void *)start) == 0)
		used += alen & (MCPS_FP_DATA / 2 - 1);
	rec->len = used;
	bpf_ringbuf_submit(rec, 0);
	return 0;
}

// A thread of a tree ends: its last CPU is accounted, and the process's end reported with its status.
SEC("tracepoint/sched/sched_process_exit")
int mcps_fp_exit(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	struct mcps_fp_task *t = bpf_map_lookup_elem(&mcps_fp_tasks, &tgid);
	if (!t)
		return 0;
	__u32 root = t->root, owner = fp_owner(t, tgid, tid);
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct mcps_fp_thread *th = bpf_map_lookup_elem(&mcps_fp_threads, &tid);
	if (th)
		fp_account_cpu(task, tgid, root, owner, th);
	bpf_map_delete_elem(&mcps_fp_threads, &tid);
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	struct mcps_fp_rec *rec = fp_event(MCPS_EV_FP_EXIT, root, owner);
	if (rec) {
		rec->result = BPF_CORE_READ(task, exit_code);
		bpf_ringbuf_submit(rec, 0);
	}
	bpf_map_delete_elem(&mcps_fp_tasks, &tgid);
	if (root == tgid)
		bpf_map_delete_elem(&mcps_fp_roots, &root);
	return 0;
}

// CUDA driver calls: user space probes the driver API functions of a libcuda that a process of a tree opened
// (capture.AttachCUDA), the attach cookie naming the function. A call by a process of a tree is counted like a
// syscall, as MCPS_FP_NR_CUDA + the function's index, in the tree's current epoch; a call by any other process leaves
// after one lookup. Cost: a uprobe exception per call (about a microsecond; a kernel launch costs several).
// Limits: calls made before the probes were attached (between the library's open and the attach, some
// milliseconds) are not counted; the cookie needs Linux 5.15.
static __always_inline int fp_cuda_call(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct mcps_fp_task *t = bpf_map_lookup_elem(&mcps_fp_tasks, &tgid);
	if (!t)
		return 0;
	__u32 root = t->root, owner = fp_owner(t, tgid, (__u32)id);
	if (mcps_preempt_kfuncs) // a uprobe program: see TLS_UNPREEMPTED in tls.c
		bpf_preempt_disable();
	fp_count(root, tgid, owner, fp_epoch(root), MCPS_FP_NR_CUDA + (__u32)bpf_get_attach_cookie(ctx), 0, 0);
	if (mcps_preempt_kfuncs)
		bpf_preempt_enable();
	return 0;
}

SEC("uprobe")
int mcps_fp_cuda(struct pt_regs *ctx) { return fp_cuda_call(ctx); }
SEC("uprobe.multi")
int mcps_fp_cuda_m(struct pt_regs *ctx) { return fp_cuda_call(ctx); }
