// SPDX-License-Identifier: GPL-2.0-only
//
// Shared types, maps and helpers of mcpscope's kernel programs. Every struct that crosses into user space is mirrored
// by bpf2go-generated Go types (mcps_{x86,arm64}_bpfel.go); internal/capture/event.go decodes them by the offsets checked in
// internal/capture/layout_test.go.
#pragma once

#include "vmlinux.h"
#include <bpf_helpers.h>
#include <bpf_core_read.h>
#include <bpf_tracing.h>

#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define S_IFIFO 0010000
#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define FMODE_WRITE 0x2

// Bytes of payload per ring-buffer record. A record is sized to its payload (bpf_ringbuf_output), so small messages
// cost little; larger writes are split into chunks of at most this size.
#define CHUNK_SIZE 32768
// Chunks one program run may emit before it hands over to a tail call: 256 * 32 KiB = 8 MiB per run.
#define CHUNKS_PER_RUN 256
// Tail calls a single write may use to continue copying: (1 + 31) * 8 MiB = 256 MiB per syscall.
#define MAX_CONTINUATIONS 31
// iovecs read from a writev/sendmsg; the rest of a larger vector is counted as lost.
#define MAX_IOV 64

enum mcps_stream_kind {
	MCPS_STREAM_PIPE = 1, // key: the pipe's inode; both ends share it
	MCPS_STREAM_UNIX = 2, // key: the inode of the socket that READS the stream (the writer's peer)
	MCPS_STREAM_TCP_TX = 3, // key: a local TCP socket's inode; the bytes it sent (HTTP capture, mcps_tcp_on)
	MCPS_STREAM_TCP_RX = 4, // key: a local TCP socket's inode; the bytes it received
	MCPS_STREAM_TLS_TX = 5, // key: tls_stream_ino of an SSL object (tls.h); the plaintext it sent
	MCPS_STREAM_TLS_RX = 6, // key: as TLS_TX; the plaintext it received
};

enum mcps_event_kind {
	MCPS_EV_DATA = 1,   // bytes written to an MCP stream
	MCPS_EV_READER = 2, // a new process reads an MCP stream
	MCPS_EV_CLOSE = 3,  // a process closed its end of an MCP stream
	MCPS_EV_EXIT = 4,   // a process that took part in MCP streams exited
	MCPS_EV_TCP = 5,    // a TCP stream was classified: its connection's addresses (struct mcps_tcp_conn) follow
	MCPS_EV_EXEC = 6,   // with TLS on: a process of interest exec'd, so user space looks for TLS to probe in it now
	// Footprints (footprint.c): struct mcps_fp_rec records.
	MCPS_EV_FP_MARK = 7,    // a root read or is about to write an MCP stdio stream: its epoch advanced
	MCPS_EV_FP_FILE = 8,    // a process of a tree opened a file (or failed to)
	MCPS_EV_FP_EXEC = 9,    // a process of a tree exec'd
	MCPS_EV_FP_EXIT = 10,   // a process of a tree exited
	MCPS_EV_FP_CONNECT = 11, // a process of a tree called connect
	MCPS_EV_FP_LISTEN = 12, // a process of a tree listens on a socket
	// Diagnosis only (mcps_debug_tls, watch --debug-events): a TLS probe hit, struct mcps_tls_hit (tls.c).
	MCPS_EV_TLS_HIT = 13,
};

// The payload of an MCPS_EV_TCP record: the connection of the socket, seen from it (s = this end).
struct mcps_tcp_conn {
	__u16 family; // AF_INET or AF_INET6
	__u16 sport;  // host byte order
	__u16 dport;  // host byte order
	__u16 _pad;
	__u8 saddr[16]; // IPv4: the first 4 bytes
	__u8 daddr[16];
};

enum mcps_stream_state {
	MCPS_STATE_CANDIDATE = 1,  // filter mode: a traced process reads it; writes by anyone are classified
	MCPS_STATE_MCP = 2,        // carries JSON-RPC: every byte written is copied
	MCPS_STATE_QUARANTINE = 3, // judged not MCP: nothing is copied (a TLS direction counts its judged plaintexts in offset)
	// A TLS stream whose connection TCP closed (mcps_tls_sock_state, at closed_at): a call that began before still
	// delivers into it (its return may run after the close); a later one is the object's next connection.
	MCPS_STATE_CLOSED = 4,
};

// Counters in mcps_stats; user space sums them over CPUs and reports them. Keep in step with
// internal/capture/stats.go.
enum mcps_stat {
	MCPS_STAT_LOST_RECORDS = 0,   // data records the ring buffer had no room for
	MCPS_STAT_LOST_BYTES = 1,     // payload bytes of those records
	MCPS_STAT_FAULT_BYTES = 2,    // payload bytes bpf_probe_read_user could not read (page not resident)
	MCPS_STAT_TOO_LONG_BYTES = 3, // bytes of one syscall beyond what the copy loop and its tail calls can reach
	MCPS_STAT_LOST_EVENTS = 4,    // reader/close/exit records the ring buffer had no room for
	MCPS_STAT_STREAMS = 5,        // streams classified as MCP
	MCPS_STAT_IOV_LOST_BYTES = 6, // bytes in iovecs past MAX_IOV
	MCPS_STAT_BUSY_BYTES = 7,     // bytes of a uprobe_multi TLS copy that found every scratch slot of its CPU taken
	MCPS_STAT_FP_LOST = 8,        // footprint counter updates that found their map full
	MCPS_STAT_TLS_UNRETURNED = 9, // TLS calls whose return was never seen (a skipped run): their stream restarted
	MCPS_STAT_TLS_UNENTERED = 10, // TLS calls of traced processes that moved bytes but whose entry was never seen
	MCPS_STAT_MAP_REFUSED = 11,   // calls whose state the kernel refused to store (a contended map lock): lost
	MCPS_STAT_TLS_UNENTERED_BYTES = 12, // the bytes of the MCPS_STAT_TLS_UNENTERED calls
	MCPS_STAT_EARLY_BYTES = 13,   // bytes of large pipe writes copied while the write waited for its reader
	MCPS_STAT_UNCOPIED_BYTES = 14, // bytes splice, tee, sendfile and sendmmsg moved into MCP streams (stdio.c)
	MCPS_STAT_MAX = 15,
};

struct mcps_stream_key {
	__u64 ino;
	__u32 kind; // enum mcps_stream_kind
	__u32 _pad;
};

struct mcps_stream {
	__u64 gen;       // ktime when the entry was created; a new gen restarts offsets at 0
	__u64 offset;    // bytes written to the stream since gen (advanced atomically at sys_exit)
	__u64 lost;      // bytes of this gen that could not be delivered
	__u32 state;     // enum mcps_stream_state
	__u32 reader;    // tgid of the last process seen reading it
	__u64 read;      // 1 + the position footprint roots' reads reached (footprint.c, fp_mark); 0: not taken yet
	__u32 init;      // 1: its first message opens a session (initialize, server/discover): its reader is a server
	union {
		__u32 stdin;   // MCPS_STATE_CANDIDATE: 1 when its reader read it through its stdin (fd 0)
		__u32 writing; // MCPS_STATE_MCP pipes and Unix sockets: writes that entered and have not returned (stdio.c)
	};
	__u64 closed_at; // MCPS_STATE_CLOSED: when TCP closed the connection (ktime)
};

// Saved at sys_enter of a write-family syscall of interest, consumed at its sys_exit (keyed by thread id).
struct mcps_write_args {
	__u64 buf;   // flat buffer, or array of struct iovec when iov is set
	__u64 vlen;  // iovec count
	struct mcps_stream_key key;
	__u32 iov;   // 1 when buf points to iovecs; MCPS_ARGS_UNCOPIED: bytes moved where no hook can copy them (stdio.c)
	__u32 fd;
	// Copy cursor, used by tail-call continuations.
	__u64 total;  // bytes the syscall wrote (its return value)
	__u64 done;   // bytes already copied or counted lost
	__u64 offset; // stream offset of the first byte of this syscall
	__u64 gen;    // its stream's generation; from a stdio write's entry to its reservation, the one counting it in
		      // writing (writing_begin in stdio.c; 0: none)
	__u32 iov_idx;
	__u32 runs;
	__u64 iov_off;
	__u64 enter_ts; // when the syscall began: data records carry it (see mcps_event_hdr.ts)
	__u32 classify; // a read of a TCP stream not yet classified: look at the bytes received at exit
	__u32 slot;     // which scratch slot of this CPU the copy uses (see mcps_scratch)
	__u64 file;     // the struct file of a classify read, for the connection's addresses
	__u32 slot_held; // a TLS copy holds its scratch slot in mcps_tlsm_busy (tls.c), released when it ends
	__u32 slot_cpu;  // and the CPU whose slot it is
};

// A large write(2) to a pipe, copied while it waits for its reader rather than all at its exit (early_copy in
// stdio.c). Kept beside the thread's mcps_write_args, whose vlen is then 1 (a flat buffer has no iovec count).
struct mcps_early {
	__u64 pipe;     // the pipe's struct pipe_inode_info
	__u64 buf;      // the write's buffer
	__u64 want;     // bytes it asked to write
	__u64 copied;   // bytes copied so far, from offset on
	__u64 offset;   // stream offset of its first byte, once reserved
	__u64 gen;      // and the stream generation it was reserved in
	__u64 enter_ts; // when the write began (the records' time)
	struct mcps_stream_key key;
	__u32 head0;    // the pipe's head (buffers ever filled) when the write began
	__u32 reserved; // 1 once want bytes of the stream are reserved for it (offset and gen set)
};

// Every record starts with this header. kind selects the rest.
struct mcps_event_hdr {
	__u8 kind;        // enum mcps_event_kind
	__u8 stream_kind; // enum mcps_stream_kind
	__u16 _pad;
	__u32 len;        // payload bytes following the fixed part (data events)
	__u32 tgid;
	__u32 tid;
	__u64 ts;         // bpf_ktime_get_ns; for data records, when the write syscall BEGAN, so that a response (written
	                  // after its request was read) always carries a later time than its request, even when the
	                  // request's sys_exit program runs after the response's (they race on two CPUs)
	__u64 ino;
	__u64 gen;
	__u64 offset;     // data: stream offset of the payload; exit: exit code
	__u64 lost;       // data: cumulative lost bytes of the stream gen when this record was emitted
	char comm[16];
};

struct mcps_data_event {
	struct mcps_event_hdr hdr;
	__u8 data[CHUNK_SIZE];
};

// Set by user space before load.
const volatile __u32 mcps_self_tgid = 0;   // the monitor: its own writes (e.g. -o - into a pipe) are never captured
const volatile __u8 mcps_filter_on = 0;    // only traced processes (mcps_traced) and streams they read
const volatile __u8 mcps_tcp_on = 0;       // also TCP sockets carrying HTTP with MCP (both directions, see tcp.h)
const volatile __u8 mcps_tls_on = 0;       // also TLS plaintext from the uprobes of tls.c (with mcps_tcp_on)
const volatile __u32 mcps_ncpu = 1;        // possible CPUs: the stride of mcps_scratch's slots
const volatile __u32 mcps_page_size = 4096; // the kernel's page size: what one pipe buffer holds (early_copy)
// 1 where tracepoint programs may call bpf_get_current_task_btf (5.11+): the fd walk then loads task, files and fdtable
// fields directly instead of through bpf_probe_read_kernel calls. On older kernels the branch is dead code the
// verifier never visits (the value is a frozen constant), so the helper's absence there does not matter.
const volatile __u8 mcps_task_btf = 0;
// 1 where the kfunc bpf_rdonly_cast is callable (6.2+): the file's inode and mode are then direct loads too. Declared
// weak so that kernels without it still load the programs; the branch that calls it is dead code there.
const volatile __u8 mcps_rdonly_cast = 0;
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;
// 1 where the kfuncs bpf_preempt_disable and _enable are callable (6.11+): see preempt_off.
const volatile __u8 mcps_preempt_kfuncs = 0;
extern void bpf_preempt_disable(void) __ksym __weak;
extern void bpf_preempt_enable(void) __ksym __weak;

// preempt_off and preempt_on hold preemption off where the kfuncs exist, so that a run's per-CPU state (a scratch
// slot, the registers and call keys of a TLS probe) is not another run's meanwhile (TLS_UNPREEMPTED in tls.c; each
// piece of a copy, from its record's first byte to its output or tail call: copy_run). They do not keep the kernel
// from skipping runs (kernel_skipped_runs): a preemption requested meanwhile happens at preempt_on, still inside the
// kernel's per-program guard. Holding the footprint and fentry programs whole so was tried in a 7.2 guest: 738 runs
// skipped in one session, as many as without.
static __always_inline void preempt_off(void)
{
	if (mcps_preempt_kfuncs)
		bpf_preempt_disable();
}

static __always_inline void preempt_on(void)
{
	if (mcps_preempt_kfuncs)
		bpf_preempt_enable();
}

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20); // resized by user space (--ring-buffer)
} mcps_events SEC(".maps");

// MCP streams (and, in filter mode, candidates). LRU so that memory stays bounded however many streams come and go;
// an evicted stream is re-created at its next message, with a new gen.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct mcps_stream_key);
	__type(value, struct mcps_stream);
} mcps_streams SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); // thread id
	__type(value, struct mcps_write_args);
} mcps_write_args SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32); // thread id
	__type(value, struct mcps_early);
} mcps_early SEC(".maps");

// How many entries mcps_early holds: while none, the context-switch program leaves at once. Changed only by whoever
// adds an entry, or deletes one successfully (the write's exit, or its thread's exit).
__u64 mcps_early_writes = 0;

// Processes under watch in filter mode (--pid, --comm, -- COMMAND); children join at fork.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);  // tgid
	__type(value, __u8);
} mcps_traced SEC(".maps");

// Command names whose processes join mcps_traced at exec (--comm).
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, char[16]);
	__type(value, __u8);
} mcps_traced_comms SEC(".maps");

// Processes that wrote or read an MCP stream; their exit is reported so user space can free their state.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);  // tgid
	__type(value, __u8);
} mcps_participants SEC(".maps");

// Which TLS copies are in flight, by CPU (tls.c): current kernels run uprobe programs preemptibly and without a
// per-CPU recursion guard, so several tasks can be inside them on one CPU, and each copy holds a scratch slot of its
// own (mcps_scratch_tls/_tlsm: MCPS_TLSM_SLOTS per CPU) from tls_prepare to the end of its copy chain. Slots are taken
// by compare-and-swap, not by nesting depth (a preempted copy may finish after a later one), and a copy remembers the
// CPU whose slot it took and uses that slot wherever it runs: a 7.2 guest's log showed a read's record under a write's
// stream and offset, two copies in one slot, which the per-CPU array of before allows if a program migrates. So this
// is a plain array, one entry per possible CPU (sized by user space), that any CPU can update.
#define MCPS_TLSM_SLOTS 4
struct mcps_tlsm_slots {
	__u64 busy[MCPS_TLSM_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32); // CPU
	__type(value, struct mcps_tlsm_slots);
} mcps_tlsm_busy SEC(".maps");

// tlsm_release gives back the scratch slot of cpu a TLS copy held (see mcps_tlsm_busy).
static __always_inline void tlsm_release(__u32 slot, __u32 cpu)
{
	struct mcps_tlsm_slots *b = bpf_map_lookup_elem(&mcps_tlsm_busy, &cpu);
	if (b && slot < MCPS_TLSM_SLOTS)
		*(volatile __u64 *)&b->busy[slot] = 0;
}

// Streams user space set aside (only junk seen on them); they are not re-classified until evicted.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct mcps_stream_key);
	__type(value, __u8);
} mcps_quarantine SEC(".maps");

// Scratch records (a per-CPU array cannot hold values over 32 KiB): bpf_ringbuf_reserve needs a constant size, so
// records are built here and copied with bpf_ringbuf_output at their real size. Entry slot * mcps_ncpu + cpu.
//
// One slot per program and CPU, not one per CPU: syscall tracepoints became faultable (Linux 6.14 and later), and a
// program on them may be preempted, so two different programs can be in flight on one CPU (the kernel keeps only the
// same program from running twice there, counting kernel_skipped_runs). Sharing a slot let one overwrite the other's
// record: chunks vanished with no counter moving, seen on Debian's 7.2 under qemu. User space sets max_entries to
// MCPS_TP_SLOTS times the number of possible CPUs. (fentry/fexit hooks and the TLS uprobes have an array each, with one
// slot per CPU.)
#define MCPS_TP_SLOTS 16
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mcps_data_event);
} mcps_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MCPS_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} mcps_stats SEC(".maps");

// Bytes waiting in the ring buffer past which a record wakes the reader at once. Below it records do not wake it: the
// reader polls every few milliseconds (internal/capture), so a busy session costs one wakeup per batch of messages,
// not one per message.
#define WAKEUP_BYTES (1 << 20)

static __always_inline __u64 wakeup_flags(void)
{
	return bpf_ringbuf_query(&mcps_events, BPF_RB_AVAIL_DATA) > WAKEUP_BYTES ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

// reserve advances *counter by n and returns its value before. Atomic fetch-and-add needs Linux 5.12; the object built
// with MCPS_NO_ATOMIC_FETCH, which user space loads on older kernels, reads then adds atomically, so two writes to
// one stream finishing at the same instant on two CPUs may be given the same offset there (the reassembler then
// counts the overlap as lost). The verifier rejects the fetch instruction even in dead code, hence two objects.
static __always_inline __u64 reserve(__u64 *counter, __u64 n)
{
#ifdef MCPS_NO_ATOMIC_FETCH
	__u64 old = *counter;
	__sync_fetch_and_add(counter, n);
	return old;
#else
	return __sync_fetch_and_add(counter, n);
#endif
}

// MCPS_MAP_WALK is defined where bpf_for_each_map_elem (5.13+) may be called: not in the object for older kernels.
#ifndef MCPS_NO_ATOMIC_FETCH
#define MCPS_MAP_WALK 1
#endif

static __always_inline void stat_add(__u32 idx, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&mcps_stats, &idx);
	if (v)
		*v += n;
}

// interesting_process is the first check of every hook: the monitor itself never counts, and in filter mode only
// traced processes do. One map lookup at most.
static __always_inline bool traced_process(__u32 tgid)
{
	if (!mcps_filter_on)
		return true;
	return bpf_map_lookup_elem(&mcps_traced, &tgid) != NULL;
}

// fd_to_file returns the current task's open file for fd, or NULL. It is the first thing every syscall hook does for
// a process that is not filtered out, so it is the hot path for every read and write on the host: with
// mcps_task_btf it costs one helper call (the fd array is indexed by a variable, which BTF loads do not allow);
// without, six.
static __always_inline struct file *fd_to_file(__u32 fd)
{
	struct file *file = NULL;
	if (mcps_task_btf) {
		struct task_struct *t = bpf_get_current_task_btf();
		struct fdtable *fdt = t->files->fdt;
		if (!fdt || fd >= fdt->max_fds)
			return NULL;
		bpf_probe_read_kernel(&file, sizeof(file), &fdt->fd[fd]);
		return file;
	}
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt)
		return NULL;
	if (fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	return file;
}

static __always_inline __u64 socket_ino(struct sock *sk)
{
	if (!sk)
		return 0;
	return BPF_CORE_READ(sk, sk_socket, file, f_inode, i_ino);
}

// stream_of_file maps an open file to the key of the stream it writes to (write) or reads from. It returns false for
// anything but a pipe or a connected Unix socket. Cost: a chain of CO-RE reads, no map lookup.
//
// trusted says file is a BTF pointer the verifier knows (an fentry/fexit argument): its fields are then plain loads.
// For a TCP socket, *tcp_sk (if tcp_sk is not NULL) receives its struct sock.
static __always_inline bool stream_of_file(struct file *file, bool trusted, bool write, struct mcps_stream_key *key,
					   __u64 *tcp_sk)
{
	if (!file)
		return false;
	struct inode *inode;
	umode_t mode;
	if (trusted || mcps_rdonly_cast) {
		struct file *f = trusted ? file : bpf_rdonly_cast(file, bpf_core_type_id_kernel(struct file));
		inode = f->f_inode;
		mode = inode->i_mode;
	} else {
		inode = BPF_CORE_READ(file, f_inode);
		mode = BPF_CORE_READ(inode, i_mode);
	}
	key->_pad = 0;
	if ((mode & S_IFMT) == S_IFIFO) {
		key->kind = MCPS_STREAM_PIPE;
		key->ino = BPF_CORE_READ(inode, i_ino);
		return true;
	}
	if ((mode & S_IFMT) != S_IFSOCK)
		return false;
	struct socket *sock = BPF_CORE_READ(file, private_data);
	struct sock *sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return false;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (mcps_tcp_on && (family == AF_INET || family == AF_INET6) && BPF_CORE_READ(sk, sk_protocol) == IPPROTO_TCP) {
		key->kind = write ? MCPS_STREAM_TCP_TX : MCPS_STREAM_TCP_RX;
		key->ino = BPF_CORE_READ(inode, i_ino);
		if (tcp_sk)
			*tcp_sk = (__u64)sk;
		return true;
	}
	if (family != AF_UNIX)
		return false;
	key->kind = MCPS_STREAM_UNIX;
	if (write) {
		struct unix_sock *us = (struct unix_sock *)sk;
		key->ino = socket_ino(BPF_CORE_READ(us, peer));
	} else {
		key->ino = BPF_CORE_READ(inode, i_ino);
	}
	return key->ino != 0;
}



static __always_inline void fill_hdr(struct mcps_event_hdr *h, __u8 kind, const struct mcps_stream_key *key)
{
	__u64 id = bpf_get_current_pid_tgid();
	h->kind = kind;
	h->stream_kind = key ? key->kind : 0;
	h->_pad = 0;
	h->len = 0;
	h->tgid = id >> 32;
	h->tid = (__u32)id;
	h->ts = bpf_ktime_get_ns();
	h->ino = key ? key->ino : 0;
	h->gen = 0;
	h->offset = 0;
	h->lost = 0;
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

// emit_small sends a header-only record (reader, close, exit), counting it when the ring buffer is full.
static __always_inline void emit_small(struct mcps_event_hdr *h)
{
	if (bpf_ringbuf_output(&mcps_events, h, sizeof(*h), wakeup_flags()))
		stat_add(MCPS_STAT_LOST_EVENTS, 1);
}

static __always_inline void mark_participant(__u32 tgid)
{
	__u8 one = 1;
	if (!bpf_map_lookup_elem(&mcps_participants, &tgid))
		bpf_map_update_elem(&mcps_participants, &tgid, &one, BPF_NOEXIST);
}
