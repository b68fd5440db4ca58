// SPDX-License-Identifier: GPL-2.0-only
//
// HTTPS capture: the plaintext of TLS connections, from uprobes on the TLS library's read and write functions, so
// MCP over HTTPS is parsed like plain HTTP. Loaded with mcps_tcp_on and mcps_tls_on; user space attaches them to
// every OpenSSL it finds (libssl.so.1.1 and .3, BoringSSL, and the OpenSSL that Node.js links into its binary).
//
// Hooks: uprobe and uretprobe on SSL_write, SSL_write_ex, SSL_read and SSL_read_ex. The entry saves the call's
// arguments by thread; the return copies the bytes the call moved (its return value, or *written / *readbytes for
// the _ex forms) into the SSL object's streams (MCPS_STREAM_TLS_TX / _RX, keyed by tls_stream_ino). The socket is
// learned from the TCP syscalls the thread makes inside the call (OpenSSL's socket BIO), or, for libraries that
// move ciphertext through memory BIOs (Node.js), from the thread's first TCP write after an SSL_write (its
// ciphertext); its addresses are then reported for the streams (MCPS_EV_TCP), and user space joins them to the
// connection by address like TCP streams.
//
// Classification: as for TCP (tcp.h), a stream becomes MCP when its first plaintext is an HTTP request carrying MCP,
// and the other direction of the same socket follows; anything else is set aside until its entry is evicted.
//
// Cost: two uprobe exceptions per SSL call of every process that uses the library (about a microsecond each), two
// lookups to leave for streams that are not MCP. Only processes that call these functions pay; nothing is added to
// the syscall path beyond tls.h.
//
// Limits: a memory-BIO connection that only ever reads (no SSL_write) is never joined to its socket, and is
// reported without addresses; a thread that writes another socket between an SSL_write and its ciphertext would
// join the wrong one (libuv writes the ciphertext before it returns to the loop). HTTP/2 plaintext is not classified
// (its headers are compressed).
#include "mcps.h"
#include "tcp.h"
#include "tls.h"

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} mcps_copy_progs_tls SEC(".maps");

// One slot per CPU (user space sizes it, like every mcps_scratch map): a uprobe program is never entered twice at once
// on one CPU (the kernel's per-CPU guard for kprobe-type programs skips the second).
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mcps_data_event);
} mcps_scratch_tls SEC(".maps");

// Set by user space when capture stops: detaching a uprobe waits for the kernel's slowest grace periods (a second
// or more on a loaded machine), so the programs are switched off first and detached while the ring buffer drains.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} mcps_tls_stopped SEC(".maps");

static __always_inline bool tls_stopped(void)
{
	__u32 zero = 0;
	__u32 *stopped = bpf_map_lookup_elem(&mcps_tls_stopped, &zero);
	return !stopped || *stopped;
}

static __always_inline int tls_enter(struct pt_regs *ctx, __u32 write, bool ex)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	if (tgid == mcps_self_tgid || !traced_process(tgid) || tls_stopped())
		return 0;
	struct mcps_tls_call c = {
		.ssl = PT_REGS_PARM1(ctx),
		.buf = PT_REGS_PARM2(ctx),
		.size_ptr = ex ? PT_REGS_PARM4(ctx) : 0,
		.enter_ts = bpf_ktime_get_ns(),
		.write = write,
	};
	bpf_map_update_elem(&mcps_tls_calls, &tid, &c, BPF_ANY);
	return 0;
}

// tls_sibling_is_mcp tells whether the other direction of key's TLS connection is an MCP stream.
static __always_inline bool tls_sibling_is_mcp(const struct mcps_stream_key *key)
{
	struct mcps_stream_key other = {
		.ino = key->ino,
		.kind = key->kind == MCPS_STREAM_TLS_TX ? MCPS_STREAM_TLS_RX : MCPS_STREAM_TLS_TX,
	};
	struct mcps_stream *st = bpf_map_lookup_elem(&mcps_streams, &other);
	return st && st->state == MCPS_STATE_MCP;
}

static __always_inline int tls_exit(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct mcps_tls_call *c = bpf_map_lookup_elem(&mcps_tls_calls, &tid);
	if (!c)
		return 0;
	struct mcps_tls_call call = *c;
	bpf_map_delete_elem(&mcps_tls_calls, &tid);
	if (tls_stopped())
		return 0;

	int ret = (int)PT_REGS_RC(ctx); // every probed function returns int: the upper half of the register is not ours
	__u64 n = 0;
	if (call.size_ptr) {
		if (ret != 1 || bpf_probe_read_user(&n, sizeof(n), (const void *)call.size_ptr))
			return 0;
	} else if (ret > 0) {
		n = ret;
	}
	if (n == 0)
		return 0;

	__u32 tgid = id >> 32;
	struct mcps_tls_key k = {.ssl = call.ssl, .tgid = tgid};
	__u64 *sk = bpf_map_lookup_elem(&mcps_tls_socks, &k);
	struct mcps_stream_key key = {.ino = tls_stream_ino(tgid, call.ssl),
				      .kind = call.write ? MCPS_STREAM_TLS_TX : MCPS_STREAM_TLS_RX};
	struct mcps_stream *st = bpf_map_lookup_elem(&mcps_streams, &key);
	if (st && st->state == MCPS_STATE_QUARANTINE)
		return 0;
	if (!st || st->state != MCPS_STATE_MCP) {
		if (!tls_sibling_is_mcp(&key) && !looks_like_http_mcp((const void *)call.buf, n)) {
			struct mcps_stream aside = {.state = MCPS_STATE_QUARANTINE};
			bpf_map_update_elem(&mcps_streams, &key, &aside, BPF_ANY);
			return 0;
		}
		struct mcps_stream fresh = {.gen = bpf_ktime_get_ns(), .state = MCPS_STATE_MCP};
		bpf_map_update_elem(&mcps_streams, &key, &fresh, BPF_ANY);
		stat_add(MCPS_STAT_STREAMS, 1);
		if (sk)
			emit_conn((struct sock *)*sk, &key, fresh.gen);
		st = bpf_map_lookup_elem(&mcps_streams, &key);
		if (!st)
			return 0;
	}
	if (!sk && call.write) // the ciphertext is written after the call returns: that write names the socket
		bpf_map_update_elem(&mcps_tls_pending, &tid, &call.ssl, BPF_ANY);
	struct mcps_write_args a = {
		.buf = call.buf,
		.key = key,
		.total = n,
		.offset = reserve(&st->offset, n),
		.gen = st->gen,
		// Sent plaintext is dated when the call began, received plaintext when it returned (see stdio.c).
		.enter_ts = call.write ? call.enter_ts : bpf_ktime_get_ns(),
	};
	mark_participant(id >> 32);
	bpf_map_update_elem(&mcps_write_args, &tid, &a, BPF_ANY);
	struct mcps_write_args *ap = bpf_map_lookup_elem(&mcps_write_args, &tid);
	if (!ap)
		return 0;
	return copy_run(ctx, &mcps_copy_progs_tls, &mcps_scratch_tls, tid, ap);
}

SEC("uprobe")
int mcps_tls_ssl_write(struct pt_regs *ctx) { return tls_enter(ctx, 1, false); }
SEC("uprobe")
int mcps_tls_ssl_write_ex(struct pt_regs *ctx) { return tls_enter(ctx, 1, true); }
SEC("uprobe")
int mcps_tls_ssl_read(struct pt_regs *ctx) { return tls_enter(ctx, 0, false); }
SEC("uprobe")
int mcps_tls_ssl_read_ex(struct pt_regs *ctx) { return tls_enter(ctx, 0, true); }
SEC("uretprobe")
int mcps_tls_ssl_ret(struct pt_regs *ctx) { return tls_exit(ctx); }

// Entered through mcps_copy_progs_tls only, never attached.
SEC("uprobe")
int mcps_copy_more_tls(struct pt_regs *ctx) { return copy_more(ctx, &mcps_copy_progs_tls, &mcps_scratch_tls); }
