// SPDX-License-Identifier: GPL-2.0-only
//
// Types, maps and helpers of the footprint programs (footprint.c), shared with stdio.c, which makes a stdio server a
// root at its first read (fp_auto_root). The maps are always loaded (empty, and of one entry or not preallocated,
// when footprints are off); the programs only with Config.Footprint.
#pragma once

#include "mcps.h"

// Set by user space before load: footprints on (capture.Config.Footprint).
const volatile __u8 mcps_fp_on = 0;

#if defined(__TARGET_ARCH_x86)
#define NR_read 0
#define NR_write 1
#define NR_open 2
#define NR_pread64 17
#define NR_pwrite64 18
#define NR_readv 19
#define NR_writev 20
#define NR_connect 42
#define NR_sendto 44
#define NR_recvfrom 45
#define NR_sendmsg 46
#define NR_recvmsg 47
#define NR_listen 50
#define NR_execve 59
#define NR_creat 85
#define NR_openat 257
#define NR_preadv 295
#define NR_pwritev 296
#define NR_preadv2 327
#define NR_pwritev2 328
#define NR_openat2 437
#define NR_execveat 322
#elif defined(__TARGET_ARCH_arm64)
#define NR_read 63
#define NR_write 64
#define NR_open -1 // arm64 has only openat
#define NR_pread64 67
#define NR_pwrite64 68
#define NR_readv 65
#define NR_writev 66
#define NR_connect 203
#define NR_sendto 206
#define NR_recvfrom 207
#define NR_sendmsg 211
#define NR_recvmsg 212
#define NR_listen 201
#define NR_execve 221
#define NR_creat -1
#define NR_openat 56
#define NR_preadv 69
#define NR_pwritev 70
#define NR_preadv2 286
#define NR_pwritev2 287
#define NR_openat2 437
#define NR_execveat 281
#else
#error "unsupported architecture"
#endif

#define O_WRONLY 01
#define O_CREAT 0100
#define O_TRUNC 01000

// Bytes of path, argv or socket address in one record.
#define MCPS_FP_DATA 512

enum mcps_fp_mark_dir {
	MCPS_FP_READ = 1,  // the root read bytes of an MCP stream: offset is the stream offset reached
	MCPS_FP_WRITE = 2, // the root is about to write an MCP stream: offset is where its bytes will start
};

// The body of every MCPS_EV_FP_* record, after struct mcps_event_hdr. Marks carry only the fixed part.
struct mcps_fp_rec {
	struct mcps_event_hdr hdr;
	__u64 epoch;
	__u32 root;
	__u32 ppid;   // exec: the parent process; file: 1 + the bytes of the directory a relative path is relative to
	__s64 result; // file, connect, listen: the syscall's return; exit: the wait status; mark: enum mcps_fp_mark_dir
	__u32 nr;     // the syscall (file, connect, listen)
	__u32 flags;  // file: open flags
	__u32 len;    // bytes of data used
	__u32 owner;  // the thread of the root it was done for (fp_owner); marks: the root's thread
	__u8 data[MCPS_FP_DATA]; // file: from the middle, the path as passed (len bytes); at the start, the components of
	                         // the directory a relative one is relative to, innermost first, each NUL-ended (ppid - 1
	                         // bytes); exec: the filename, NUL, then argv as the process holds it (NUL-separated);
	                         // connect: the sockaddr; listen: a struct mcps_tcp_conn of the socket (local address)
};

#define MCPS_FP_FIXED (sizeof(struct mcps_fp_rec) - MCPS_FP_DATA)

struct mcps_fp_task {
	__u32 root;
	__u32 owner; // a process under the root: the thread of the root that started its line (0: unknown, a process the
	             // root had started before it became one); the root itself: 0 (each of its threads owns its own work)
};

struct mcps_fp_root {
	__u64 epoch;
};

// Per thread of a tree: the syscall in progress, and the CPU times already accounted.
struct mcps_fp_thread {
	__u64 enter_ns;
	__u64 args[3];
	__u64 utime, stime, runtime;
	__s64 nr; // -1: not in a syscall
	// In an execve: 1 + the root's epoch at its entry, which the exec and the syscall are charged to (0: none). The
	// thread that started the program may go on as soon as the new program's memory replaces the old (a vfork
	// parent, or a close-on-exec pipe that Python's and Go's spawners wait on closes there), and the exec
	// tracepoint fires after that: a server that answers at once would otherwise leave the exec to the next epoch.
	__u64 exec_epoch;
};

// Counters of mcps_fp_syscalls whose nr is at or past MCPS_FP_NR_CUDA are calls of the CUDA driver API, not
// syscalls: nr - MCPS_FP_NR_CUDA is the function's index in user space's list (capture.cudaFuncs).
enum mcps_fp_nr_space {
	MCPS_FP_NR_CUDA = 0x10000,
};

struct mcps_fp_sys_key {
	__u32 root;
	__u32 tgid;
	__u64 epoch;
	__u32 nr;
	__s32 err;   // 0, or the errno of failed calls
	__u32 owner; // fp_owner: the thread of the root the work was done for, so that user space can split concurrent
	             // calls of a server that runs each on a thread of its own
	__u32 _pad;
};

struct mcps_fp_count {
	__u64 count;
	__u64 ns; // time inside the syscall
};

struct mcps_fp_cpu_key {
	__u32 root;
	__u32 tgid;
	__u64 epoch;
	__u32 owner; // as in mcps_fp_sys_key
	__u32 _pad;
};

struct mcps_fp_cpu {
	__u64 user_ns;    // task utime (tick-sampled)
	__u64 sys_ns;     // task stime (tick-sampled)
	__u64 runtime_ns; // sum_exec_runtime (exact at switches)
};

// Roots (MCP servers) whose footprint is recorded, by tgid; user space adds and removes them.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct mcps_fp_root);
} mcps_fp_roots SEC(".maps");

// Every process of a tree (roots included), by tgid.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct mcps_fp_task);
} mcps_fp_tasks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, __u32); // thread id
	__type(value, struct mcps_fp_thread);
} mcps_fp_threads SEC(".maps");

// Syscall counters; user space drains the epochs that have ended (internal/monitor: twice a second, more often
// while calls end).
//
// The counter maps are preallocated: each epoch of a busy root makes fresh elements (a ping-pong session peaked at
// 11,000 in the syscall map between drains), and taking one from a preallocated map's free list costs the footprint's
// sys_exit 150 to 180 ns less than allocating it (docs/benchmarks.md). The price is kernel memory held while
// footprints are on, some 6 MiB and 1.5 MiB at these sizes; user space sets both maps to one entry when footprints are
// off. An element user space deletes is reused at once, so a count added in the moment between a program's lookup
// and its add, by a syscall whose epoch ended in that moment and was drained, can land on another key.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct mcps_fp_sys_key);
	__type(value, struct mcps_fp_count);
} mcps_fp_syscalls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct mcps_fp_cpu_key);
	__type(value, struct mcps_fp_cpu);
} mcps_fp_cpus SEC(".maps");

// fp_owner returns the thread of the root that work by thread tid of process tgid (a member of t's tree) is done for:
// tid itself in the root, else the thread of the root that started the process's line (at fork, mcps_fp_fork). No
// lookup: the caller has t.
static __always_inline __u32 fp_owner(const struct mcps_fp_task *t, __u32 tgid, __u32 tid)
{
	// Both loaded before the choice: else the compiler may pick between the pointers (a map value's and a task's)
	// and load once, which the verifier refuses ("same insn cannot be used with different pointers").
	__u32 owner = t->owner;
	barrier_var(owner);
	barrier_var(tid);
	return t->root == tgid ? tid : owner;
}

static __always_inline __u64 fp_epoch(__u32 root)
{
	struct mcps_fp_root *r = bpf_map_lookup_elem(&mcps_fp_roots, &root);
	return r ? r->epoch : 0;
}

// fp_counter returns the counter at key in map, made zero on first use; NULL (counted) when the map is full.
static __always_inline void *fp_counter(void *map, const void *key, const void *zero)
{
	void *c = bpf_map_lookup_elem(map, key);
	if (c)
		return c;
	bpf_map_update_elem(map, key, zero, BPF_NOEXIST);
	c = bpf_map_lookup_elem(map, key);
	if (!c)
		stat_add(MCPS_STAT_FP_LOST, 1);
	return c;
}

// fp_account_cpu adds what task ran since th's snapshot to the CPU counters of its tree's epoch. The epoch is
// looked up only when there is something to add (a thread switched out often ran no tick since).
static __always_inline void fp_account_cpu(struct task_struct *task, __u32 tgid, __u32 root, __u32 owner,
					   struct mcps_fp_thread *th)
{
	__u64 ut, st, rt;
	if (mcps_task_btf && task == (struct task_struct *)bpf_get_current_task()) {
		struct task_struct *cur = bpf_get_current_task_btf(); // plain loads instead of three helper calls
		ut = cur->utime;
		st = cur->stime;
		rt = cur->se.sum_exec_runtime;
	} else {
		ut = BPF_CORE_READ(task, utime);
		st = BPF_CORE_READ(task, stime);
		rt = BPF_CORE_READ(task, se.sum_exec_runtime);
	}
	__u64 du = ut > th->utime ? ut - th->utime : 0, ds = st > th->stime ? st - th->stime : 0;
	__u64 dr = rt > th->runtime ? rt - th->runtime : 0;
	th->utime = ut;
	th->stime = st;
	th->runtime = rt;
	if (!du && !ds && !dr)
		return;
	struct mcps_fp_cpu_key k = {.root = root, .tgid = tgid, .epoch = fp_epoch(root), .owner = owner};
	struct mcps_fp_cpu zero = {};
	struct mcps_fp_cpu *c = fp_counter(&mcps_fp_cpus, &k, &zero);
	if (!c)
		return;
	__sync_fetch_and_add(&c->user_ns, du);
	__sync_fetch_and_add(&c->sys_ns, ds);
	__sync_fetch_and_add(&c->runtime_ns, dr);
}

// fp_thread returns the state of the current thread, made on first sight with the CPU it has used so far already
// accounted (threads created inside a tree are made at fork, with nothing accounted).
static __always_inline struct mcps_fp_thread *fp_thread(__u32 tid)
{
	struct mcps_fp_thread *th = bpf_map_lookup_elem(&mcps_fp_threads, &tid);
	if (th)
		return th;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct mcps_fp_thread fresh = {
		.utime = BPF_CORE_READ(task, utime),
		.stime = BPF_CORE_READ(task, stime),
		.runtime = BPF_CORE_READ(task, se.sum_exec_runtime),
		.nr = -1,
	};
	bpf_map_update_elem(&mcps_fp_threads, &tid, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&mcps_fp_threads, &tid);
}


// fp_record reserves a record of kind for the current process of tree root, done for the root's thread owner, in
// epoch, with its fixed part filled: size is MCPS_FP_FIXED for a mark (no data) or sizeof(struct mcps_fp_rec); key
// names a mark's stream.
static __always_inline struct mcps_fp_rec *fp_record(__u8 kind, __u32 root, __u32 owner, __u64 epoch, __u64 size,
						     const struct mcps_stream_key *key)
{
	struct mcps_fp_rec *rec = bpf_ringbuf_reserve(&mcps_events, size, 0);
	if (!rec) {
		stat_add(MCPS_STAT_LOST_EVENTS, 1);
		return NULL;
	}
	fill_hdr(&rec->hdr, kind, key);
	rec->epoch = epoch;
	rec->root = root;
	rec->ppid = 0;
	rec->result = 0;
	rec->nr = 0;
	rec->flags = 0;
	rec->len = 0;
	rec->owner = owner;
	return rec;
}

// fp_boundary ends the current epoch of root r (accounted CPU first, by the caller) and reports the boundary: the
// stream offset the root's read reached, or where its write will start. The current thread is the root's.
static __always_inline void fp_boundary(struct mcps_fp_root *r, __u32 root, const struct mcps_stream_key *key, __u64 gen,
					__u64 offset, bool write)
{
	__u64 epoch = reserve(&r->epoch, 1) + 1;
	struct mcps_fp_rec *rec =
		fp_record(MCPS_EV_FP_MARK, root, (__u32)bpf_get_current_pid_tgid(), epoch, MCPS_FP_FIXED, key);
	if (!rec)
		return;
	rec->hdr.gen = gen;
	rec->hdr.offset = offset;
	rec->result = write ? MCPS_FP_WRITE : MCPS_FP_READ;
	bpf_ringbuf_submit(rec, wakeup_flags());
}

// fp_self_root returns the root state of the current process (tgid) when it is a footprint root itself: only a
// root's own reads and writes mark epochs. One lookup for a process outside every tree.
static __always_inline struct mcps_fp_root *fp_self_root(__u32 tgid)
{
	if (!mcps_fp_on)
		return NULL;
	struct mcps_fp_task *t = bpf_map_lookup_elem(&mcps_fp_tasks, &tgid);
	if (!t || t->root != tgid)
		return NULL;
	return bpf_map_lookup_elem(&mcps_fp_roots, &tgid);
}

// fp_root_boundary accounts the current thread's CPU to the epoch that ends and reports the boundary (fp_boundary).
static __always_inline void fp_root_boundary(struct mcps_fp_root *r, __u64 id, const struct mcps_stream_key *key,
					     __u64 gen, __u64 offset, bool write)
{
	__u32 tgid = id >> 32;
	struct mcps_fp_thread *th = fp_thread((__u32)id);
	if (!th)
		return;
	fp_account_cpu((struct task_struct *)bpf_get_current_task(), tgid, tgid, (__u32)id, th);
	fp_boundary(r, tgid, key, gen, offset, write);
}

// fp_stream_mark marks an epoch boundary at an MCP read of a TCP socket or a TLS connection by the current process,
// when it is a footprint root. Called by the capture programs once they have numbered the bytes (offset: the
// position the read reached), so the mark cannot disagree with the records. Only MCP streams get here.
static __always_inline void fp_stream_mark(const struct mcps_stream_key *key, __u64 gen, __u64 offset)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct mcps_fp_root *r = fp_self_root(id >> 32);
	if (r)
		fp_root_boundary(r, id, key, gen, offset, false);
}

// fp_write_mark marks an epoch boundary where a footprint root is about to write an MCP TCP or TLS stream (key): at
// the stream's offset now, where these bytes will start, since a write's range is reserved at its return. The root
// is checked before the stream: a process outside every tree pays one lookup.
static __always_inline void fp_write_mark(const struct mcps_stream_key *key)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct mcps_fp_root *r = fp_self_root(id >> 32);
	if (!r)
		return;
	struct mcps_stream *st = bpf_map_lookup_elem(&mcps_streams, key);
	if (st && st->state == MCPS_STATE_MCP)
		fp_root_boundary(r, id, key, st->gen, st->offset, true);
}

// pipe_unread returns the bytes waiting in pipe file's buffers (up to 16 buffers: a pipe of the default size).
static __always_inline __u64 pipe_unread(struct file *file)
{
	struct pipe_inode_info *pipe = BPF_CORE_READ(file, private_data);
	if (!pipe)
		return 0;
	__u32 head = BPF_CORE_READ_BITFIELD_PROBED(pipe, head), tail = BPF_CORE_READ_BITFIELD_PROBED(pipe, tail);
	__u32 ring = BPF_CORE_READ(pipe, ring_size);
	struct pipe_buffer *bufs = BPF_CORE_READ(pipe, bufs);
	if (!ring || !bufs)
		return 0;
	__u64 unread = 0;
	for (int i = 0; i < 16; i++) {
		if (tail + i == head)
			break;
		__u32 idx = (tail + i) & (ring - 1);
		unread += BPF_CORE_READ(bufs + idx, len);
	}
	return unread;
}

// unix_unread returns the bytes waiting in the receive queue of Unix socket file (up to 16 buffers). A stream
// socket's reader may have taken part of the first buffer (a read smaller than the write: a server reading a large
// message in pieces): the part it took, UNIXCB(skb).consumed, is not waiting.
static __always_inline __u64 unix_unread(struct file *file)
{
	struct socket *sock = BPF_CORE_READ(file, private_data);
	struct sock *sk = sock ? BPF_CORE_READ(sock, sk) : NULL;
	if (!sk)
		return 0;
	struct sk_buff_head *q = &sk->sk_receive_queue;
	struct sk_buff *skb = BPF_CORE_READ(sk, sk_receive_queue.next);
	__u64 unread = 0, consumed = 0;
	if (skb && (void *)skb != (void *)q && bpf_core_field_exists(struct unix_skb_parms, consumed)) {
		struct unix_skb_parms *cb = (struct unix_skb_parms *)&skb->cb;
		consumed = BPF_CORE_READ(cb, consumed);
	}
	for (int i = 0; i < 16; i++) {
		if (!skb || (void *)skb == (void *)q)
			break;
		unread += BPF_CORE_READ(skb, len);
		skb = BPF_CORE_READ(skb, next);
	}
	return unread > consumed ? unread - consumed : 0;
}

// fp_auto_root makes the current process a footprint root at its first read, through its stdin, of an MCP stream
// whose first message opened a session (initialize, server/discover): a stdio MCP server, made a root before it
// reads its first call, however quick the client. (Any reader of JSON-RPC-looking bytes would not do: a junk flood
// into cat would count every syscall of cat and mark every read.) Processes it started before are not followed
// (only those it forks from now on); its read position is taken at its first marked read (fp_mark).
static __always_inline void fp_auto_root(__u32 tgid)
{
	struct mcps_fp_task *cur = bpf_map_lookup_elem(&mcps_fp_tasks, &tgid);
	if (cur && cur->root == tgid)
		return; // a root already
	// A member of another tree (a server started by a root) becomes a root of its own: its calls are its own.
	struct mcps_fp_root r = {};
	if (bpf_map_update_elem(&mcps_fp_roots, &tgid, &r, BPF_NOEXIST))
		return;
	struct mcps_fp_task t = {.root = tgid};
	bpf_map_update_elem(&mcps_fp_tasks, &tgid, &t, BPF_ANY);
}
