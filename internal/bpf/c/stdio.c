// SPDX-License-Identifier: GPL-2.0-only
//
// stdio capture: every byte written to an MCP stream (a pipe, or a connected Unix socket such as the socketpairs
// that Node-based hosts give their servers), copied once, at the write; the read side only records who reads.
//
// Hooks: the per-syscall tracepoints syscalls/sys_{enter,exit}_<name> (perf tracepoints, every kernel since 4.x,
// no fentry, kprobes or BPF LSM needed). Only the syscalls below pay for a program; all other syscalls pay only the
// kernel's generic cost of having syscall tracepoints enabled.
//
// Cost for everything that is not MCP: the monitor's own tgid is skipped by a constant; in filter mode one lookup in
// mcps_traced; then a chain of CO-RE reads from the fd to its inode mode leaves any fd that is not a pipe or a Unix
// socket; a pipe or socket costs one lookup in mcps_streams, and, for a write to a stream not yet known, a 16-byte
// peek at the buffer to see whether it opens a JSON-RPC object. sys_exit costs one lookup in mcps_write_args. A write
// to an MCP pipe or Unix socket pays one more lookup and an atomic add at its entry (writing_begin) and an atomic add
// at its exit.
//
// Limits: splice, tee, sendfile and sendmmsg move bytes these hooks cannot copy: on an MCP stream they are counted as
// lost and leave a hole user space sees (uncopied_enter); io_uring moves bytes no hook sees; vectors past
// MAX_IOV iovecs and single syscalls past (1 + MAX_CONTINUATIONS) * CHUNKS_PER_RUN * CHUNK_SIZE bytes are counted as
// lost, never silently dropped. A write is copied at its exit, whole, so the ring buffer must hold it then, except a
// large write(2) to a pipe, copied while it waits for its reader (early_copy, tp_btf/sched_switch).
#include "mcps.h"

// Plain layouts of the syscall tracepoint contexts (common header, syscall number, arguments / return value). Not
// CO-RE-relocated: the tracepoint format is ABI.
struct sys_enter_ctx {
	__u64 common;
	__s64 nr;
	__u64 args[6];
};

struct sys_exit_ctx {
	__u64 common;
	__s64 nr;
	__s64 ret;
};

// jsonrpc_member tells whether m starts a JSON-RPC member name closed by '"' (compared on enough letters to be
// unambiguous; user space confirms).
static __always_inline bool jsonrpc_member(const char *m)
{
	switch (m[0]) {
	case 'j':
		return m[1] == 's' && m[2] == 'o' && m[3] == 'n';
	case 'i':
		return m[1] == 'd' && m[2] == '"';
	case 'm':
		return m[1] == 'e' && m[2] == 't' && m[3] == 'h';
	case 'r':
		return m[1] == 'e' && m[2] == 's' && m[3] == 'u';
	case 'e':
		return m[1] == 'r' && m[2] == 'r' && m[3] == 'o';
	case 'p':
		return m[1] == 'a' && m[2] == 'r' && m[3] == 'a';
	}
	return false;
}

// looks_like_jsonrpc tells whether bytes open a JSON-RPC message: `{"` and one of the member names jsonrpc, id,
// method, result, error, params, optionally after '[' (a 2025-03-26 batch) and one space. Key order is not fixed (the
// TypeScript SDK writes "result" first), so any member counts. Offsets are constants on purpose: the verifier
// refuses the pointer arithmetic clang makes of a variable index into the stack buffer.
static __always_inline bool looks_like_jsonrpc(const void *ubuf, __u64 len)
{
	char b[16] = {};
	if (len < 8)
		return false;
	if (bpf_probe_read_user(b, sizeof(b), ubuf) && bpf_probe_read_user(b, 8, ubuf))
		return false;
	if (b[0] == '{' && b[1] == '"')
		return jsonrpc_member(&b[2]);
	if ((b[0] == '[' || b[0] == ' ') && b[1] == '{' && b[2] == '"')
		return jsonrpc_member(&b[3]);
	if (b[0] == '[' && (b[1] == ' ' || b[1] == '\n') && b[2] == '{' && b[3] == '"')
		return jsonrpc_member(&b[4]);
	return false;
}

// opens_session tells whether the first bytes of a stream's first write hold "initialize" or "server/discover" in
// their first 64 bytes: the request that opens a stdio session in either era, whatever the key order, so that the
// stream's reader is a server (footprint.c). Offsets are constants (the loop is unrolled): see looks_like_jsonrpc.
static __always_inline bool opens_session(const void *ubuf, __u64 len)
{
	char b[64] = {};
	if (len < sizeof(b) ? bpf_probe_read_user(b, 32, ubuf) : bpf_probe_read_user(b, sizeof(b), ubuf))
		return false;
#pragma unroll
	for (int i = 0; i < 52; i++) {
		if (b[i] != '"')
			continue;
		if (b[i + 1] == 'i' && b[i + 2] == 'n' && b[i + 3] == 'i' && b[i + 4] == 't' && b[i + 5] == 'i' &&
		    b[i + 6] == 'a' && b[i + 7] == 'l' && b[i + 8] == 'i' && b[i + 9] == 'z' && b[i + 10] == 'e' &&
		    b[i + 11] == '"')
			return true;
		if (b[i + 1] == 's' && b[i + 2] == 'e' && b[i + 3] == 'r' && b[i + 4] == 'v' && b[i + 5] == 'e' &&
		    b[i + 6] == 'r' && b[i + 7] == '/' && b[i + 8] == 'd' && b[i + 9] == 'i' && b[i + 10] == 's' &&
		    b[i + 11] == 'c')
			return true;
	}
	return false;
}

// first_buffer returns the first user buffer of a write: the flat buffer, or iov[0].
static __always_inline const void *first_buffer(__u64 buf, __u32 iov, __u64 *len)
{
	if (!iov)
		return (const void *)buf;
	struct iovec v = {};
	if (bpf_probe_read_user(&v, sizeof(v), (const void *)buf))
		return NULL;
	*len = v.iov_len;
	return v.iov_base;
}

#include "tcp.h"
#include "tls.h"
#include "footprint.h"

// Large pipe writes are copied while they wait (early_copy), so that the ring buffer need not hold a whole write.
#define EARLY_MIN (256 << 10) // a write to a pipe from this size on (pipes hold 64 KiB by default, 1 MiB at most)
#define EARLY_CHUNKS 32       // chunks copied at most per context switch: 1 MiB, the largest pipe

// early_begin notes a large write(2) to a pipe in mcps_early, so that it is copied while it waits (early_copy), and
// tells whether it did. Entries are dropped at the write's exit, or at its thread's exit (mcps_exit, process.c).
static __always_inline bool early_begin(__u32 tid, struct file *file, const struct mcps_write_args *a, __u64 len)
{
	struct pipe_inode_info *pipe = BPF_CORE_READ(file, private_data);
	if (!pipe)
		return false;
	struct mcps_early e = {
		.pipe = (__u64)pipe,
		.buf = a->buf,
		.want = len,
		.enter_ts = a->enter_ts,
		.key = a->key,
		.head0 = BPF_CORE_READ(pipe, head),
	};
	if (!bpf_map_update_elem(&mcps_early, &tid, &e, BPF_NOEXIST)) {
		__sync_fetch_and_add(&mcps_early_writes, 1);
		return true;
	}
	// One left by a write whose exit this monitor did not see (it attached in between): replaced, already counted.
	return !bpf_map_update_elem(&mcps_early, &tid, &e, BPF_EXIST);
}

// early_drop forgets the early copy of thread tid, if any.
static __always_inline void early_drop(__u32 tid)
{
	if (!bpf_map_delete_elem(&mcps_early, &tid))
		__sync_fetch_and_add(&mcps_early_writes, -1);
}

// lose accounts bytes that will never reach user space to the stream (st: its entry, if still of this write's gen).
static __always_inline void lose(struct mcps_stream *st, __u32 stat, __u64 n)
{
	stat_add(stat, n);
	if (st)
		__sync_fetch_and_add(&st->lost, n);
}

// writing_begin counts a write to pipe or Unix socket stream key, about to be saved in a, among the stream's writes
// in flight (struct mcps_stream.writing) until writing_done. While one is, the stream's offset does not tell what its
// reader can have read: a write's range is reserved at its exit, after its bytes reached the reader, and an
// early-copied write's (early_copy) whole before all of them did. A footprint root takes its read position only when
// none is (fp_mark).
static __always_inline struct mcps_stream *writing_begin(const struct mcps_stream_key *key, struct mcps_write_args *a)
{
	if (key->kind != MCPS_STREAM_PIPE && key->kind != MCPS_STREAM_UNIX)
		return NULL;
	struct mcps_stream *st = bpf_map_lookup_elem(&mcps_streams, key);
	if (st)
		a->gen = st->gen; // until the exit reserves the range
	return st;
}

// writing_done takes a stdio write of stream key, counted in generation gen (writing_begin), out of the count, once
// its range is reserved (st: the stream, when in hand). A stream evicted and made anew meanwhile did not count it.
static __always_inline void writing_done(const struct mcps_stream_key *key, __u64 gen, struct mcps_stream *st)
{
	if (!gen || (key->kind != MCPS_STREAM_PIPE && key->kind != MCPS_STREAM_UNIX))
		return;
	if (!st)
		st = bpf_map_lookup_elem(&mcps_streams, key);
	if (st && st->gen == gen)
		__sync_fetch_and_add(&st->writing, -1);
}

// write_enter decides whether a write is to an MCP stream and, if so, saves what the syscall's exit needs. Hooks that
// see the struct file (fentry on vfs_write) pass it as trusted; the others pass the fd, and the file is looked up.
static __always_inline int write_enter(__u32 fd, struct file *file, bool trusted, __u64 buf, __u64 len, __u32 iov,
				       __u64 vlen)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	if (tgid == mcps_self_tgid)
		return 0;
	bool traced = traced_process(tgid);
	struct mcps_stream_key key;
	__u64 sk = 0;
	if (!trusted)
		file = fd_to_file(fd);
	if (!stream_of_file(file, trusted, true, &key, &sk))
		return 0;
	if (key.kind == MCPS_STREAM_TCP_TX)
		tls_note_socket(file, sk, true);
	struct mcps_stream *st = bpf_map_lookup_elem(&mcps_streams, &key);
	if (!traced && !st) // filter mode: only streams a traced process reads
		return 0;
	if (st && st->state == MCPS_STATE_QUARANTINE)
		return 0;
	if (!st || st->state != MCPS_STATE_MCP) {
		__u64 first_len = len;
		const void *first = first_buffer(buf, iov, &first_len);
		if (key.kind == MCPS_STREAM_TCP_TX) {
			// A server's responses on a connection whose requests were MCP, or a client's MCP request.
			if (!tcp_sibling_is_mcp(&key) && (!first || !looks_like_http_mcp(first, first_len)))
				return 0;
		} else if (!first || !looks_like_jsonrpc(first, first_len)) {
			return 0;
		}
		if (bpf_map_lookup_elem(&mcps_quarantine, &key))
			return 0;
		struct mcps_stream fresh = {
			.gen = bpf_ktime_get_ns(),
			.state = MCPS_STATE_MCP,
			.init = mcps_fp_on && key.kind != MCPS_STREAM_TCP_TX && opens_session(first, first_len),
		};
		// Looked up again, not kept from st across the scans above: the verifier walks a scan once for every
		// distinct state that reaches it, and a stream not yet seen and a candidate stream would be two (each
		// walk of the HTTP scan is some 60,000 to 80,000 instructions).
		struct mcps_stream *candidate = bpf_map_lookup_elem(&mcps_streams, &key);
		__u32 candidate_reader = candidate ? candidate->reader : 0;
		bool candidate_stdin = candidate && candidate->stdin;
		fresh.reader = candidate_reader;
		bpf_map_update_elem(&mcps_streams, &key, &fresh, BPF_ANY);
		stat_add(MCPS_STAT_STREAMS, 1);
		if (key.kind == MCPS_STREAM_TCP_TX)
			emit_tcp_conn((__u64)file, &key, fresh.gen);
		if (candidate_reader) {
			// The traced reader made this stream a candidate, possibly from a read that is still blocked and
			// will not come back through read_enter: report it now. Its comm is not known here (the current
			// task is the writer); user space looks it up.
			struct mcps_event_hdr h;
			fill_hdr(&h, MCPS_EV_READER, &key);
			h.tgid = candidate_reader;
			h.tid = 0;
			__builtin_memset(h.comm, 0, sizeof(h.comm));
			h.gen = fresh.gen;
			emit_small(&h);
			// Nor will that read make it a footprint root (read_enter): the server would count nothing until
			// user space saw its first call, and that call would get no footprint. It becomes one now.
			if (fresh.init && candidate_stdin)
				fp_auto_root(candidate_reader);
		}
	}
	if (key.kind == MCPS_STREAM_TCP_TX)
		fp_write_mark(&key); // a server root begins a response: its call's epochs end here (footprint.h)
	struct mcps_write_args a = {
		.buf = buf,
		.vlen = vlen,
		.key = key,
		.iov = iov,
		.fd = fd,
		.enter_ts = bpf_ktime_get_ns(),
	};
	struct mcps_stream *writing = writing_begin(&key, &a);
	if (key.kind == MCPS_STREAM_PIPE && !iov && len >= EARLY_MIN && early_begin(tid, file, &a, len))
		a.vlen = 1; // see struct mcps_early
	if (bpf_map_update_elem(&mcps_write_args, &tid, &a, BPF_ANY)) {
		stat_add(MCPS_STAT_MAP_REFUSED, 1); // refused (a contended map lock, tls.c): this write is lost, counted
		if (a.vlen && !iov)
			early_drop(tid);
	} else if (writing) {
		__sync_fetch_and_add(&writing->writing, 1);
	}
	return 0;
}

// uncopied_enter notes a syscall that moves bytes into fd where no hook can copy them: splice and tee (from another
// pipe or a file, inside the kernel), sendfile (from a file) and sendmmsg (msgvec: its array of struct mmsghdr, whose
// iovecs are not walked). On an MCP pipe or Unix socket its exit counts the bytes as lost and reserves their range
// (uncopied_exit), so that user space sees the hole: the message they fall in is marked truncated, or, when they are
// whole messages, the stream resumes at the next; nothing is glued. They do not classify a stream (there is nothing
// to peek at). Rare syscalls: the cost is that of write_enter.
#define MCPS_ARGS_UNCOPIED 2
static __always_inline int uncopied_enter(__u32 fd, __u64 msgvec)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	if ((id >> 32) == mcps_self_tgid)
		return 0;
	struct mcps_stream_key key;
	if (!stream_of_file(fd_to_file(fd), false, true, &key, NULL))
		return 0;
	struct mcps_write_args a = {.buf = msgvec, .key = key, .iov = MCPS_ARGS_UNCOPIED, .fd = fd};
	struct mcps_stream *st = writing_begin(&key, &a);
	if (!st || st->state != MCPS_STATE_MCP)
		return 0;
	if (!bpf_map_update_elem(&mcps_write_args, &tid, &a, BPF_ANY))
		__sync_fetch_and_add(&st->writing, 1);
	return 0;
}

// MAX_MMSG is how many messages of one sendmmsg uncopied_exit sums the lengths of; the bytes of any further ones
// are not known, and the stream's later offsets fall short by them (user space then sees a torn message, skipped).
#define MAX_MMSG 64

// uncopied_exit counts the bytes of a syscall noted by uncopied_enter (a) that returned ret as lost and reserves
// their range in its stream.
static __always_inline void uncopied_exit(struct mcps_write_args *a, __s64 ret)
{
	if (ret <= 0) {
		writing_done(&a->key, a->gen, NULL);
		return;
	}
	__u64 n = ret;
	if (a->buf) { // sendmmsg: ret messages were sent, msg_len bytes each
		n = 0;
		struct mmsghdr *msgs = (struct mmsghdr *)a->buf;
		for (int i = 0; i < MAX_MMSG && i < ret; i++) {
			__u32 len = 0;
			bpf_probe_read_user(&len, sizeof(len), &msgs[i].msg_len);
			n += len;
		}
	}
	struct mcps_stream *st = bpf_map_lookup_elem(&mcps_streams, &a->key);
	if (!st)
		return;
	reserve(&st->offset, n);
	lose(st, MCPS_STAT_UNCOPIED_BYTES, n);
	writing_done(&a->key, a->gen, st);
}

// uncopied_exit_prog ends the syscall of the current thread noted by uncopied_enter, if any.
static __always_inline int uncopied_exit_prog(__s64 ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct mcps_write_args *a = bpf_map_lookup_elem(&mcps_write_args, &tid);
	if (!a || a->iov != MCPS_ARGS_UNCOPIED)
		return 0;
	uncopied_exit(a, ret);
	bpf_map_delete_elem(&mcps_write_args, &tid);
	return 0;
}

// Loaded with either hook set (capture/load.go keeps the mcps_uncopied_ programs): fentry on vfs_write sees none of
// these syscalls.
SEC("tracepoint/syscalls/sys_enter_splice")
int mcps_uncopied_enter_splice(struct sys_enter_ctx *ctx) { return uncopied_enter(ctx->args[2], 0); }
SEC("tracepoint/syscalls/sys_enter_tee")
int mcps_uncopied_enter_tee(struct sys_enter_ctx *ctx) { return uncopied_enter(ctx->args[1], 0); }
SEC("tracepoint/syscalls/sys_enter_sendfile64")
int mcps_uncopied_enter_sendfile64(struct sys_enter_ctx *ctx) { return uncopied_enter(ctx->args[0], 0); }
SEC("tracepoint/syscalls/sys_enter_sendmmsg")
int mcps_uncopied_enter_sendmmsg(struct sys_enter_ctx *ctx) { return uncopied_enter(ctx->args[0], ctx->args[1]); }
SEC("tracepoint/syscalls/sys_exit_splice")
int mcps_uncopied_exit_splice(struct sys_exit_ctx *ctx) { return uncopied_exit_prog(ctx->ret); }
SEC("tracepoint/syscalls/sys_exit_tee")
int mcps_uncopied_exit_tee(struct sys_exit_ctx *ctx) { return uncopied_exit_prog(ctx->ret); }
SEC("tracepoint/syscalls/sys_exit_sendfile64")
int mcps_uncopied_exit_sendfile64(struct sys_exit_ctx *ctx) { return uncopied_exit_prog(ctx->ret); }
SEC("tracepoint/syscalls/sys_exit_sendmmsg")
int mcps_uncopied_exit_sendmmsg(struct sys_exit_ctx *ctx) { return uncopied_exit_prog(ctx->ret); }

// With the fentry hook set, whose copy programs vmsplice never reaches, its bytes are uncopied as splice's
// (capture/load.go loads the mcps_uncopied_fentryset_ programs with that set only).
SEC("tracepoint/syscalls/sys_enter_vmsplice")
int mcps_uncopied_fentryset_enter_vmsplice(struct sys_enter_ctx *ctx) { return uncopied_enter(ctx->args[0], 0); }
SEC("tracepoint/syscalls/sys_exit_vmsplice")
int mcps_uncopied_fentryset_exit_vmsplice(struct sys_exit_ctx *ctx) { return uncopied_exit_prog(ctx->ret); }

// vmsplice maps or copies user memory into a pipe: its iovecs are read as writev's (with the tracepoint hook set;
// with fentry, above).
SEC("tracepoint/syscalls/sys_enter_vmsplice")
int mcps_enter_vmsplice(struct sys_enter_ctx *ctx)
{
	return write_enter(ctx->args[0], NULL, false, ctx->args[1], 0, 1, ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_enter_write")
int mcps_enter_write(struct sys_enter_ctx *ctx)
{
	return write_enter(ctx->args[0], NULL, false, ctx->args[1], ctx->args[2], 0, 0);
}

SEC("tracepoint/syscalls/sys_enter_pwrite64")
int mcps_enter_pwrite64(struct sys_enter_ctx *ctx)
{
	return write_enter(ctx->args[0], NULL, false, ctx->args[1], ctx->args[2], 0, 0);
}

SEC("tracepoint/syscalls/sys_enter_sendto")
int mcps_enter_sendto(struct sys_enter_ctx *ctx)
{
	return write_enter(ctx->args[0], NULL, false, ctx->args[1], ctx->args[2], 0, 0);
}

SEC("tracepoint/syscalls/sys_enter_writev")
int mcps_enter_writev(struct sys_enter_ctx *ctx)
{
	return write_enter(ctx->args[0], NULL, false, ctx->args[1], 0, 1, ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_enter_pwritev")
int mcps_enter_pwritev(struct sys_enter_ctx *ctx)
{
	return write_enter(ctx->args[0], NULL, false, ctx->args[1], 0, 1, ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_enter_pwritev2")
int mcps_enter_pwritev2(struct sys_enter_ctx *ctx)
{
	return write_enter(ctx->args[0], NULL, false, ctx->args[1], 0, 1, ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int mcps_enter_sendmsg(struct sys_enter_ctx *ctx)
{
	struct user_msghdr msg = {};
	if (bpf_probe_read_user(&msg, sizeof(msg), (const void *)ctx->args[1]))
		return 0;
	return write_enter(ctx->args[0], NULL, false, (__u64)msg.msg_iov, 0, 1, msg.msg_iovlen);
}

// copy_chunks copies up to CHUNKS_PER_RUN chunks of the write described by a, advancing its cursor. It returns
// true when bytes remain for a continuation.
static __always_inline bool copy_chunks(struct mcps_write_args *a, struct mcps_data_event *ev, struct mcps_stream *st)
{
	struct iovec v = {};

	if (a->iov) {
		// Position v on the current iovec; its length is clamped to what the syscall wrote.
		if (a->iov_idx >= MAX_IOV || a->iov_idx >= a->vlen)
			goto lost;
		if (bpf_probe_read_user(&v, sizeof(v), (const void *)(a->buf + a->iov_idx * sizeof(struct iovec))))
			goto lost;
	}

	for (int i = 0; i < CHUNKS_PER_RUN; i++) {
		if (a->done >= a->total)
			return false;
		__u64 src, n;
		if (a->iov) {
			if (a->iov_off >= v.iov_len) {
				a->iov_idx++;
				a->iov_off = 0;
				if (a->iov_idx >= MAX_IOV || a->iov_idx >= a->vlen)
					goto lost;
				if (bpf_probe_read_user(&v, sizeof(v),
							(const void *)(a->buf + a->iov_idx * sizeof(struct iovec))))
					goto lost;
				continue;
			}
			src = (__u64)v.iov_base + a->iov_off;
			n = v.iov_len - a->iov_off;
		} else {
			src = a->buf + a->done;
			n = a->total - a->done;
		}
		if (n > a->total - a->done)
			n = a->total - a->done;
		if (n > CHUNK_SIZE)
			n = CHUNK_SIZE;

		ev->hdr.offset = a->offset + a->done;
		ev->hdr.len = n;
		// Bounds for the verifier: n is in [0, CHUNK_SIZE].
		__u32 len = n & (2 * CHUNK_SIZE - 1);
		if (len > CHUNK_SIZE)
			len = CHUNK_SIZE;
		if (bpf_probe_read_user(ev->data, len, (const void *)src)) {
			lose(st, MCPS_STAT_FAULT_BYTES, len);
		} else {
			ev->hdr.lost = st ? st->lost : 0;
			if (bpf_ringbuf_output(&mcps_events, ev, sizeof(ev->hdr) + len, wakeup_flags())) {
				stat_add(MCPS_STAT_LOST_RECORDS, 1);
				lose(st, MCPS_STAT_LOST_BYTES, len);
			}
		}
		a->done += len;
		a->iov_off += len;
	}
	return a->done < a->total;

lost:
	// Bytes the cursor cannot reach (vector past MAX_IOV, unreadable iovec): account for them so the stream's
	// offsets stay exact and user space marks the message truncated.
	lose(st, MCPS_STAT_IOV_LOST_BYTES, a->total - a->done);
	a->done = a->total;
	return false;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} mcps_copy_progs SEC(".maps");

// copy_run copies what one program run can of the write in a, through the record slot of this CPU in scratch, then
// continues in the program that progs holds. Each kind of hook has its own prog array (a tail call must stay within
// one program type and attach point) and its own scratch (see mcps_scratch). It is entered with preemption off
// (preempt_off) and turns it on: a tail call cannot be made with it off. Held off from the record's first header byte
// to its output, it also keeps another copy on this CPU from writing into the same slot (the compat object's one
// slot per CPU, on a kernel that runs uprobe programs preemptibly: a 7.2 guest under --portable output one write's
// record twice and lost a read's).
static __always_inline int copy_run(void *ctx, void *progs, void *scratch, __u32 tid, struct mcps_write_args *a)
{
	__u32 idx = a->slot * mcps_ncpu + (a->slot_held ? a->slot_cpu : bpf_get_smp_processor_id());
	struct mcps_data_event *ev = bpf_map_lookup_elem(scratch, &idx);
	if (!ev)
		goto done;
	// Looked up once per run: the entry stays valid while the program runs. A different gen means the stream was
	// evicted and re-created meanwhile; its new counters are not this write's.
	struct mcps_stream *st = bpf_map_lookup_elem(&mcps_streams, &a->key);
	if (st && st->gen != a->gen)
		st = NULL;
	fill_hdr(&ev->hdr, MCPS_EV_DATA, &a->key);
	ev->hdr.ts = a->enter_ts;
	ev->hdr.gen = a->gen;
	if (copy_chunks(a, ev, st)) {
		if (a->runs < MAX_CONTINUATIONS) {
			a->runs++;
			preempt_on();
			bpf_tail_call(ctx, progs, 0);
			preempt_off(); // the tail call failed
		}
		// No continuation left (or the tail call failed): count the rest as lost.
		lose(st, MCPS_STAT_TOO_LONG_BYTES, a->total - a->done);
	}
done:
	if (a->slot_held)
		tlsm_release(a->slot, a->slot_cpu);
	bpf_map_delete_elem(&mcps_write_args, &tid);
	preempt_on();
	return 0;
}

// copy_more continues a copy too large for one program run.
static __always_inline int copy_more(void *ctx, void *progs, void *scratch)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	preempt_off();
	struct mcps_write_args *a = bpf_map_lookup_elem(&mcps_write_args, &tid);
	if (!a) {
		preempt_on();
		return 0;
	}
	return copy_run(ctx, progs, scratch, tid, a);
}

// copy_start hands the write in a, its stream range reserved, to the copy program of the hook (copy_more) by a tail
// call, with preemption on. The copy is not inlined in the programs that reserve: verified inside each of them, and
// from each state the reservation left, it made every exit program about 596,000 instructions for the verifier
// (196,000 without it) and every TLS return program about 450,000; every watch start paid that for each of them
// (docs/kernel.md, "Verification cost"). The tail call costs a captured write one more program entry and one more
// lookup of its arguments. A TLS copy keeps its scratch slot meanwhile (slot_held); the others take their CPU's slot
// in copy_run, preemption off.
static __always_inline int copy_start(void *ctx, void *progs, __u32 tid, struct mcps_write_args *a)
{
	bpf_tail_call(ctx, progs, 0);
	// The copy program is missing from the prog array (user space fills it before attaching): the reserved range is
	// counted as lost, so that the stream's offsets stay exact and the message is marked truncated.
	struct mcps_stream *st = bpf_map_lookup_elem(&mcps_streams, &a->key);
	lose(st && st->gen == a->gen ? st : NULL, MCPS_STAT_TOO_LONG_BYTES, a->total);
	if (a->slot_held)
		tlsm_release(a->slot, a->slot_cpu);
	bpf_map_delete_elem(&mcps_write_args, &tid);
	return 0;
}

// Entered through mcps_copy_progs only, never attached.
SEC("tracepoint")
int mcps_copy_more(struct sys_exit_ctx *ctx) { return copy_more(ctx, &mcps_copy_progs, &mcps_scratch); }

// One record slot per CPU for early_copy: it runs in the scheduler, where nothing else runs on that CPU meanwhile.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); // sized by user space: one per possible CPU
	__type(key, __u32);
	__type(value, struct mcps_data_event);
} mcps_scratch_early SEC(".maps");

// early_copy copies what a large blocking write to a pipe (e, of the current task) has already handed to the pipe,
// as it goes to sleep waiting for its reader to make room. Without it the whole write is copied at its exit, in one
// program run that cannot wait for user space to drain the ring buffer: a 16 MiB write (Python's os.write) needed a
// ring buffer of more than 16 MiB. Now the ring holds at most what the writer hands over between two sleeps, a pipe's
// worth, and a copy that finds the ring full simply tries again at the next switch.
//
// How much the write has handed over is read from the pipe: pipe_write fills one page-sized buffer per step and
// advances pipe->head for each (after first topping up the last buffer with the write's sub-page remainder, if it
// can), so a head advanced by k since the write began means at least (k - 1) full pages of it are in the pipe; the
// one not counted may be the buffer being filled. Another writer to the same pipe at the same time would advance
// the head too: then more may be copied than this write wrote, which its exit finds and counts as lost
// (early_done). Bytes are read from the writer's own buffer, which pipe_write has just read, so it is resident.
//
// The stream range is reserved for the whole write at the first copy; the exit gives back what a partial write did
// not use (early_done).
static __always_inline void early_copy(struct mcps_early *e)
{
	struct pipe_inode_info *pipe = (struct pipe_inode_info *)e->pipe;
	__u32 filled = BPF_CORE_READ(pipe, head) - e->head0;
	if (filled < 2)
		return;
	__u64 handed = (__u64)(filled - 1) * mcps_page_size;
	if (handed > e->want)
		handed = e->want;
	if (handed <= e->copied)
		return;
	struct mcps_stream *st = bpf_map_lookup_elem(&mcps_streams, &e->key);
	if (!e->reserved) {
		if (!st)
			return; // evicted: the exit makes a new one and copies the write there
		e->gen = st->gen;
		e->offset = reserve(&st->offset, e->want);
		e->reserved = 1;
	} else if (st && st->gen != e->gen) {
		return; // evicted and re-created: early_done counts the rest as lost
	}
	__u32 cpu = bpf_get_smp_processor_id();
	struct mcps_data_event *ev = bpf_map_lookup_elem(&mcps_scratch_early, &cpu);
	if (!ev)
		return;
	fill_hdr(&ev->hdr, MCPS_EV_DATA, &e->key);
	ev->hdr.ts = e->enter_ts;
	ev->hdr.gen = e->gen;
	for (int i = 0; i < EARLY_CHUNKS; i++) {
		if (e->copied >= handed)
			break;
		__u64 n = handed - e->copied;
		if (n > CHUNK_SIZE)
			n = CHUNK_SIZE;
		__u32 len = n & (2 * CHUNK_SIZE - 1); // bounds for the verifier: n is in [1, CHUNK_SIZE]
		if (len > CHUNK_SIZE)
			len = CHUNK_SIZE;
		if (bpf_probe_read_user(ev->data, len, (const void *)(e->buf + e->copied)))
			break; // left to the exit
		ev->hdr.offset = e->offset + e->copied;
		ev->hdr.len = len;
		ev->hdr.lost = st ? st->lost : 0;
		if (bpf_ringbuf_output(&mcps_events, ev, sizeof(ev->hdr) + len, wakeup_flags()))
			break; // the ring is full: try again at the next switch, or at the exit
		e->copied += len;
		stat_add(MCPS_STAT_EARLY_BYTES, len);
	}
}

// early_switch runs at every context switch (mcps_switch in footprint.c, which also accounts footprint CPU there).
// Cost: one load of a global while no large pipe write is under way (mcps_early_writes); while one is, one lookup in
// mcps_early, and the copy for the writer's own switches. prev is the current task at that tracepoint: its memory is
// the one bpf_probe_read_user reads.
static __always_inline void early_switch(struct task_struct *prev)
{
	if (!mcps_early_writes)
		return;
	__u32 tid = prev->pid;
	struct mcps_early *e = bpf_map_lookup_elem(&mcps_early, &tid);
	if (e)
		early_copy(e);
}

// set_range points the copy cursor of a at the stream range [offset, offset + total) of generation gen, of which the
// first done bytes are already copied (by early_copy). Every exit path that hands a write to a copy sets it here.
static __always_inline void set_range(struct mcps_write_args *a, __u64 offset, __u64 gen, __u64 total, __u64 done)
{
	a->total = total;
	a->offset = offset;
	a->gen = gen;
	a->done = done;
	a->iov_idx = 0;
	a->iov_off = done; // a flat buffer's cursor, as done; early copies are of flat buffers only
	a->runs = 0;
}

// exit_stream returns the stream entry a write that returned bytes reserves its range in. The entry may have been
// evicted while a blocking write waited; then a new generation starts here, at the start of this write, which began
// a message.
static __always_inline struct mcps_stream *exit_stream(const struct mcps_stream_key *key)
{
	struct mcps_stream *st = bpf_map_lookup_elem(&mcps_streams, key);
	if (st)
		return st;
	struct mcps_stream fresh = {.gen = bpf_ktime_get_ns(), .state = MCPS_STATE_MCP};
	bpf_map_update_elem(&mcps_streams, key, &fresh, BPF_ANY);
	return bpf_map_lookup_elem(&mcps_streams, key);
}

enum early_end {
	EARLY_NOTHING, // nothing left to copy
	EARLY_REST,    // the rest of the reserved range, from a->done on
};

// early_done ends the early copy of the write of thread tid (a), which returned ret (<= 0: nothing written), and
// leaves in a what remains to copy at the exit. A write nothing was copied of yet is reserved here as any other
// write (pipe writes need none of the rest of write_exit_prepare): done here rather than by falling through to it,
// so that the verifier does not walk the TCP classification scan there once more for this path's state.
static __always_inline enum early_end early_done(struct mcps_write_args *a, __u32 tid, __s64 ret)
{
	struct mcps_early *e = bpf_map_lookup_elem(&mcps_early, &tid);
	if (!e || !e->reserved) {
		early_drop(tid);
		if (ret <= 0)
			return EARLY_NOTHING;
		struct mcps_stream *st = exit_stream(&a->key);
		if (!st)
			return EARLY_NOTHING;
		set_range(a, reserve(&st->offset, ret), st->gen, ret, 0);
		return EARLY_REST;
	}
	__u64 written = ret > 0 ? ret : 0, copied = e->copied, want = e->want, offset = e->offset, gen = e->gen;
	early_drop(tid);
	struct mcps_stream *st = bpf_map_lookup_elem(&mcps_streams, &a->key);
	if (!st || st->gen != gen) {
		// The stream was evicted while the write waited: the rest of its range is gone with it.
		if (written > copied)
			stat_add(MCPS_STAT_LOST_BYTES, written - copied);
		return EARLY_NOTHING;
	}
	if (written < copied) {
		// Another writer's buffers made the pipe's head overstate this write's progress (early_copy): bytes were
		// copied that this write did not write. Counted as lost, with the rest of the range, so that the message
		// they fall in is marked truncated.
		lose(st, MCPS_STAT_LOST_BYTES, want - written);
		return EARLY_NOTHING;
	}
	if (written < want) {
		// A partial write (a signal, or its reader gone): give back the range it did not use, unless another
		// write reserved past it meanwhile; then the unused range is counted as lost.
		__u64 end = offset + want, used = offset + written;
#ifdef MCPS_NO_ATOMIC_FETCH
		bool given = st->offset == end;
		if (given)
			st->offset = used;
#else
		bool given = __sync_val_compare_and_swap(&st->offset, end, used) == end;
#endif
		if (!given)
			lose(st, MCPS_STAT_LOST_BYTES, want - written);
	}
	set_range(a, offset, gen, written, copied);
	return written > copied ? EARLY_REST : EARLY_NOTHING;
}

// write_exit_prepare reserves the range of the stream for a write-family syscall that returned ret (or a read of a
// TCP stream: the bytes received) whose entry saved a, and returns a, or NULL when there is nothing to copy.
static __always_inline struct mcps_write_args *write_exit_prepare(struct mcps_write_args *a, __u32 tid, __u32 slot,
							      __s64 ret)
{
	if (a->iov == MCPS_ARGS_UNCOPIED) {
		uncopied_exit(a, ret);
		bpf_map_delete_elem(&mcps_write_args, &tid);
		return NULL;
	}
	if (a->vlen && !a->iov) { // copied while it waited (struct mcps_early)
		a->vlen = 0;
		mark_participant(bpf_get_current_pid_tgid() >> 32);
		__u64 counted_in = a->gen; // set_range overwrites it
		enum early_end end = early_done(a, tid, ret);
		writing_done(&a->key, counted_in, NULL);
		if (end == EARLY_NOTHING) {
			bpf_map_delete_elem(&mcps_write_args, &tid);
			return NULL;
		}
		a->slot = slot;
		return a;
	}
	if (ret <= 0) {
		writing_done(&a->key, a->gen, NULL);
		bpf_map_delete_elem(&mcps_write_args, &tid);
		return NULL;
	}
	if (a->classify && !tcp_classify_received(a, ret)) {
		bpf_map_delete_elem(&mcps_write_args, &tid);
		return NULL;
	}
	struct mcps_stream *st = exit_stream(&a->key);
	if (!st) {
		bpf_map_delete_elem(&mcps_write_args, &tid);
		return NULL;
	}
	// Received bytes are dated when the read returns them: a blocking read began before its peer even wrote, and
	// user space orders the two directions of a connection by these times.
	if (a->key.kind == MCPS_STREAM_TCP_RX)
		a->enter_ts = bpf_ktime_get_ns();
	__u64 offset = reserve(&st->offset, ret);
	writing_done(&a->key, a->gen, st);
	set_range(a, offset, st->gen, ret, 0);
	if (a->key.kind == MCPS_STREAM_TCP_RX) // a server root read (part of) a request: an epoch boundary
		fp_stream_mark(&a->key, a->gen, a->offset + ret);
	a->slot = slot;
	mark_participant(bpf_get_current_pid_tgid() >> 32);
	return a;
}

// copy_small copies, in the exit program itself, a write whose rest fits in one record from a flat buffer: most MCP
// messages. The tail call to the copy program would cost such a write a second program entry, a second lookup of its
// arguments and a second round of preemption off and on. Called with preemption off since write_exit_prepare (the
// scratch slot is this CPU's); it returns false, leaving the write to copy_start, for anything else.
static __always_inline bool copy_small(struct mcps_write_args *a, __u32 tid, void *scratch)
{
	__u64 n = a->total - a->done;
	if (a->iov || a->slot_held || n > CHUNK_SIZE)
		return false;
	__u32 idx = a->slot * mcps_ncpu + bpf_get_smp_processor_id();
	struct mcps_data_event *ev = bpf_map_lookup_elem(scratch, &idx);
	if (!ev)
		return false;
	struct mcps_stream *st = bpf_map_lookup_elem(&mcps_streams, &a->key);
	if (st && st->gen != a->gen)
		st = NULL; // evicted and re-created meanwhile: see copy_run
	__u32 len = n & (2 * CHUNK_SIZE - 1); // bounds for the verifier: n is in [1, CHUNK_SIZE]
	if (len > CHUNK_SIZE)
		len = CHUNK_SIZE;
	if (bpf_probe_read_user(ev->data, len, (const void *)(a->buf + a->done))) {
		lose(st, MCPS_STAT_FAULT_BYTES, len);
	} else {
		fill_hdr(&ev->hdr, MCPS_EV_DATA, &a->key);
		ev->hdr.ts = a->enter_ts;
		ev->hdr.gen = a->gen;
		ev->hdr.offset = a->offset + a->done;
		ev->hdr.len = len;
		ev->hdr.lost = st ? st->lost : 0;
		if (bpf_ringbuf_output(&mcps_events, ev, sizeof(ev->hdr) + len, wakeup_flags())) {
			stat_add(MCPS_STAT_LOST_RECORDS, 1);
			lose(st, MCPS_STAT_LOST_BYTES, len);
		}
	}
	bpf_map_delete_elem(&mcps_write_args, &tid);
	return true;
}

// write_exit runs when a write-family syscall returns ret (or a read of a TCP stream): it reserves the range of the
// stream, then copies a write of one record itself (copy_small) and tail-calls the copy program of its hook for
// larger ones (copy_start). A write to anything else leaves after one lookup.
static __always_inline int write_exit(void *ctx, void *progs, void *scratch, __u32 slot, __s64 ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct mcps_write_args *a = bpf_map_lookup_elem(&mcps_write_args, &tid);
	if (!a)
		return 0; // not a write to an MCP stream: one lookup, preemption untouched
	preempt_off();
	a = write_exit_prepare(a, tid, slot, ret);
	if (a && copy_small(a, tid, scratch))
		a = NULL;
	preempt_on();
	if (!a)
		return 0;
	return copy_start(ctx, progs, tid, a);
}

// All write-family syscalls end the same way; one body serves them (sys_exit_* share the context layout).
SEC("tracepoint/syscalls/sys_exit_write")
int mcps_exit_write(struct sys_exit_ctx *ctx) { return write_exit(ctx, &mcps_copy_progs, &mcps_scratch, 0, ctx->ret); }
SEC("tracepoint/syscalls/sys_exit_pwrite64")
int mcps_exit_pwrite64(struct sys_exit_ctx *ctx) { return write_exit(ctx, &mcps_copy_progs, &mcps_scratch, 1, ctx->ret); }
SEC("tracepoint/syscalls/sys_exit_sendto")
int mcps_exit_sendto(struct sys_exit_ctx *ctx) { return write_exit(ctx, &mcps_copy_progs, &mcps_scratch, 2, ctx->ret); }
SEC("tracepoint/syscalls/sys_exit_writev")
int mcps_exit_writev(struct sys_exit_ctx *ctx) { return write_exit(ctx, &mcps_copy_progs, &mcps_scratch, 3, ctx->ret); }
SEC("tracepoint/syscalls/sys_exit_pwritev")
int mcps_exit_pwritev(struct sys_exit_ctx *ctx) { return write_exit(ctx, &mcps_copy_progs, &mcps_scratch, 4, ctx->ret); }
SEC("tracepoint/syscalls/sys_exit_pwritev2")
int mcps_exit_pwritev2(struct sys_exit_ctx *ctx) { return write_exit(ctx, &mcps_copy_progs, &mcps_scratch, 5, ctx->ret); }
SEC("tracepoint/syscalls/sys_exit_sendmsg")
int mcps_exit_sendmsg(struct sys_exit_ctx *ctx) { return write_exit(ctx, &mcps_copy_progs, &mcps_scratch, 6, ctx->ret); }
SEC("tracepoint/syscalls/sys_exit_vmsplice")
int mcps_exit_vmsplice(struct sys_exit_ctx *ctx) { return write_exit(ctx, &mcps_copy_progs, &mcps_scratch, 11, ctx->ret); }

// read_enter records which process reads an MCP stream. Nothing is copied at reads: each byte was copied once, at
// its write. In filter mode a traced reader makes the stream a candidate, so writes to it by untraced processes are
// classified too (a traced server's stdin, written by an untraced host).
//
// TCP streams are the exception (mcps_tcp_on): a remote peer's bytes are only ever seen here, so reads of them are
// copied at their exit like writes (tcp_read_enter).
static __always_inline int read_enter(__u32 fd, struct file *file, bool trusted, __u64 buf, __u32 iov, __u64 vlen)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (tgid == mcps_self_tgid)
		return 0;
	bool traced = traced_process(tgid);
	struct mcps_stream_key key;
	__u64 sk = 0;
	if (!trusted)
		file = fd_to_file(fd);
	if (!stream_of_file(file, trusted, false, &key, &sk))
		return 0;
	if (key.kind == MCPS_STREAM_TCP_RX)
		tls_note_socket(file, sk, false);
	struct mcps_stream *st = bpf_map_lookup_elem(&mcps_streams, &key);
	if (key.kind == MCPS_STREAM_TCP_RX)
		return tcp_read_enter(&key, st, traced, fd, (__u64)file, buf, iov, vlen);
	if (!st) {
		if (mcps_filter_on && traced) {
			struct mcps_stream cand = {.state = MCPS_STATE_CANDIDATE, .reader = tgid, .stdin = fd == 0};
			bpf_map_update_elem(&mcps_streams, &key, &cand, BPF_NOEXIST);
		}
		return 0;
	}
	if (st->reader == tgid)
		return 0;
	st->reader = tgid;
	if (st->state != MCPS_STATE_MCP)
		return 0;
	if (mcps_fp_on && fd == 0 && st->init)
		fp_auto_root(tgid);
	mark_participant(tgid);
	struct mcps_event_hdr h;
	fill_hdr(&h, MCPS_EV_READER, &key);
	h.gen = st->gen;
	emit_small(&h);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_read")
int mcps_enter_read(struct sys_enter_ctx *ctx) { return read_enter(ctx->args[0], NULL, false, ctx->args[1], 0, 0); }
SEC("tracepoint/syscalls/sys_enter_readv")
int mcps_enter_readv(struct sys_enter_ctx *ctx) { return read_enter(ctx->args[0], NULL, false, ctx->args[1], 1, ctx->args[2]); }
SEC("tracepoint/syscalls/sys_enter_pread64")
int mcps_enter_pread64(struct sys_enter_ctx *ctx) { return read_enter(ctx->args[0], NULL, false, 0, 0, 0); }
SEC("tracepoint/syscalls/sys_enter_preadv")
int mcps_enter_preadv(struct sys_enter_ctx *ctx) { return read_enter(ctx->args[0], NULL, false, 0, 0, 0); }
SEC("tracepoint/syscalls/sys_enter_preadv2")
int mcps_enter_preadv2(struct sys_enter_ctx *ctx) { return read_enter(ctx->args[0], NULL, false, 0, 0, 0); }
SEC("tracepoint/syscalls/sys_enter_recvfrom")
int mcps_enter_recvfrom(struct sys_enter_ctx *ctx) { return read_enter(ctx->args[0], NULL, false, ctx->args[1], 0, 0); }
SEC("tracepoint/syscalls/sys_enter_recvmsg")
int mcps_enter_recvmsg(struct sys_enter_ctx *ctx)
{
	struct user_msghdr msg = {};
	if (mcps_tcp_on && bpf_probe_read_user(&msg, sizeof(msg), (const void *)ctx->args[1]))
		return 0;
	return read_enter(ctx->args[0], NULL, false, (__u64)msg.msg_iov, 1, msg.msg_iovlen);
}

// Exits of the reads of TCP streams (loaded only with mcps_tcp_on; pread* cannot read a socket).
SEC("tracepoint/syscalls/sys_exit_read")
int mcps_tcp_exit_read(struct sys_exit_ctx *ctx) { return write_exit(ctx, &mcps_copy_progs, &mcps_scratch, 7, ctx->ret); }
SEC("tracepoint/syscalls/sys_exit_readv")
int mcps_tcp_exit_readv(struct sys_exit_ctx *ctx) { return write_exit(ctx, &mcps_copy_progs, &mcps_scratch, 8, ctx->ret); }
SEC("tracepoint/syscalls/sys_exit_recvfrom")
int mcps_tcp_exit_recvfrom(struct sys_exit_ctx *ctx) { return write_exit(ctx, &mcps_copy_progs, &mcps_scratch, 9, ctx->ret); }
SEC("tracepoint/syscalls/sys_exit_recvmsg")
int mcps_tcp_exit_recvmsg(struct sys_exit_ctx *ctx) { return write_exit(ctx, &mcps_copy_progs, &mcps_scratch, 10, ctx->ret); }

// close of the writing end of an MCP stream: user space flushes a partial message and frees the stream once its
// writer is gone. (Files closed by exit are reported through the process exit instead.)
static __always_inline int close_enter(__u32 fd)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (tgid == mcps_self_tgid)
		return 0;
	struct file *file = fd_to_file(fd);
	if (!file)
		return 0;
	if ((BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) == S_IFIFO && !(BPF_CORE_READ(file, f_mode) & FMODE_WRITE))
		return 0; // the read end of a pipe
	struct mcps_stream_key key;
	if (!stream_of_file(file, false, true, &key, NULL))
		return 0;
	struct mcps_stream *st = bpf_map_lookup_elem(&mcps_streams, &key);
	if (!st || st->state != MCPS_STATE_MCP)
		return 0;
	struct mcps_event_hdr h;
	fill_hdr(&h, MCPS_EV_CLOSE, &key);
	h.gen = st->gen;
	emit_small(&h);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_close")
int mcps_enter_close(struct sys_enter_ctx *ctx) { return close_enter(ctx->args[0]); }
