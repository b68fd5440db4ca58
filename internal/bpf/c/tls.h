// SPDX-License-Identifier: GPL-2.0-only
//
// What the syscall hooks do for TLS capture (tls.c): while a thread is inside SSL_read or SSL_write, the socket
// syscalls it makes are those of the SSL object's connection, which joins the object to its TCP socket. Cost with
// mcps_tls_on unset: nothing; with it set, a lookup in mcps_tls_calls per TCP socket read or write, and once a Go
// TLS call was seen one in mcps_tls_over too (and one in mcps_tls_last for a socket under a TLS object).
#pragma once

#include "mcps.h"

// An SSL_read/SSL_write call in flight, by thread.
struct mcps_tls_call {
	__u64 ssl;      // the SSL object (first argument)
	__u64 buf;      // the plaintext buffer
	__u64 len;      // the bytes asked for
	__u64 size_ptr; // SSL_read_ex/SSL_write_ex: where the byte count is stored (size_t *); 0 otherwise
	__u64 enter_ts; // when the call began
	__u32 write;    // 1 for SSL_write* and Go's Write, 0 for reads
	__u32 flags;    // MCPS_TLS_GO: Go's crypto/tls, whose socket is read from the conn (tls.c)
	__u32 tgid;
	__u32 _pad;
};

#define MCPS_TLS_GO 1

// A plain hash, not an LRU one: an LRU map may evict an entry long before it is full (its free nodes are handed out
// to CPUs in batches, and a CPU short of them evicts a batch of the oldest entries), and an evicted call loses its
// bytes without a trace — seen in a 7.2 guest, where Go calls saved at their entry were gone at their return with
// nothing else touching them. A thread killed inside a call leaves its entry: user space sweeps the entries of
// processes gone (capture.SweepTLSCalls); a full map refuses the next call, which is counted (kernel_map_refused).
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32); // thread id
	__type(value, struct mcps_tls_call);
} mcps_tls_calls SEC(".maps");

// An SSL object, named by its process and address (SSL objects of two processes may share an address).
struct mcps_tls_key {
	__u64 ssl;
	__u32 tgid;
	__u32 _pad;
};

// The socket under an SSL object: its struct sock, for the connection's addresses, and its inode, which names the
// connection (a struct sock's memory is soon reused by the next socket; inode numbers are not).
struct mcps_tls_sock {
	__u64 sk;
	__u64 ino;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct mcps_tls_key);
	__type(value, struct mcps_tls_sock);
} mcps_tls_socks SEC(".maps");

// The TLS object over each socket, by its struct sock: when TCP closes the connection, the object's streams end
// (mcps_tls_sock_state in tls.c), so user space ends the connection while its process lives on (a long-lived client
// opens many). Set with mcps_tls_socks.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64); // the struct sock
	__type(value, struct mcps_tls_key);
} mcps_tls_over SEC(".maps");

// The TLS connection whose socket each thread last read or wrote: it names the connection of a Go call whose entry
// was never seen (tls_go_unentered in tls.c), since Read and Write make their socket syscalls on the thread they
// return on. Set from the socket syscalls of sockets under a known TLS object; a lookup per TCP socket syscall, an
// update only when the thread moves to another connection or direction.
struct mcps_tls_last {
	__u64 ssl;
	__u32 tgid;
	__u32 write;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); // thread id
	__type(value, struct mcps_tls_last);
} mcps_tls_last SEC(".maps");

// Set at the first Go crypto/tls call seen: until then the socket syscalls skip mcps_tls_last (a host without Go
// TLS programs pays one load for it).
volatile __u8 mcps_tls_go_seen;

// SSL objects that moved plaintext without a syscall inside the call (a library using memory BIOs, such as Node.js):
// the thread's next TCP write, which carries the ciphertext of that SSL_write, names their socket.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); // thread id
	__type(value, __u64); // the SSL object
} mcps_tls_pending SEC(".maps");

// tls_stream_ino names the TLS streams of an SSL object: a number of their own (the top bit set, so it is never a
// socket inode), since the socket may be learned after the first bytes. The connection's addresses follow in an
// MCPS_EV_TCP record once the socket is known.
static __always_inline __u64 tls_stream_ino(__u32 tgid, __u64 ssl)
{
	return (1ULL << 63) | ((__u64)(tgid & 0x7fffff) << 40) | (ssl & ((1ULL << 40) - 1));
}

static __always_inline void emit_conn(struct sock *sk, const struct mcps_stream_key *key, __u64 gen);

// tls_forget_streams drops the streams of a TLS object whose address now names another connection: that connection's
// bytes start new streams (a new generation, at offset 0), classified afresh.
static __always_inline void tls_forget_streams(__u32 tgid, __u64 ssl)
{
	struct mcps_stream_key key = {.ino = tls_stream_ino(tgid, ssl), .kind = MCPS_STREAM_TLS_TX};
	bpf_map_delete_elem(&mcps_streams, &key);
	key.kind = MCPS_STREAM_TLS_RX;
	bpf_map_delete_elem(&mcps_streams, &key);
}

// tls_close_streams marks the MCP streams of a TLS object whose connection TCP closed (now: ktime) MCPS_STATE_CLOSED,
// and drops its others: a call begun before the close still delivers into its stream, a later one starts afresh.
static __always_inline void tls_close_streams(__u32 tgid, __u64 ssl, __u64 now)
{
	struct mcps_stream_key key = {.ino = tls_stream_ino(tgid, ssl), .kind = MCPS_STREAM_TLS_TX};
#pragma unroll
	for (int i = 0; i < 2; i++) {
		struct mcps_stream *st = bpf_map_lookup_elem(&mcps_streams, &key);
		if (st && st->state == MCPS_STATE_MCP) {
			st->closed_at = now;
			st->state = MCPS_STATE_CLOSED;
		} else if (st) {
			bpf_map_delete_elem(&mcps_streams, &key);
		}
		key.kind = MCPS_STREAM_TLS_RX;
	}
}

// tls_announce reports the connection of the TLS streams of ssl already classified, now that its socket is known.
static __always_inline void tls_announce(__u32 tgid, __u64 ssl, struct sock *sk)
{
	struct mcps_stream_key key = {.ino = tls_stream_ino(tgid, ssl), .kind = MCPS_STREAM_TLS_TX};
	struct mcps_stream *st = bpf_map_lookup_elem(&mcps_streams, &key);
	if (!st || st->state != MCPS_STATE_MCP) {
		key.kind = MCPS_STREAM_TLS_RX;
		st = bpf_map_lookup_elem(&mcps_streams, &key);
	}
	if (st && st->state == MCPS_STATE_MCP)
		emit_conn(sk, &key, st->gen);
}

// tls_set_socket records the socket (sk, inode ino) under a TLS object. Another socket than the one recorded means a
// new connection whose object took a freed one's address (Python's urllib makes one per request, and OpenSSL's
// allocator hands the same address back): its bytes start new streams. Streams classified before their socket was
// known (a write judged at its entry, memory-BIO plaintext) get their connection reported now.
static __always_inline void tls_set_socket(__u32 tgid, __u64 ssl, __u64 sk, __u64 ino)
{
	struct mcps_tls_key k = {.ssl = ssl, .tgid = tgid};
	struct mcps_tls_sock *known = bpf_map_lookup_elem(&mcps_tls_socks, &k);
	if (known && known->ino == ino) {
		// mcps_tls_over is an LRU map: an entry evicted would leave the connection's TCP close unseen (its end
		// then waits for the process's exit).
		if (!bpf_map_lookup_elem(&mcps_tls_over, &sk))
			bpf_map_update_elem(&mcps_tls_over, &sk, &k, BPF_ANY);
		return;
	}
	if (known)
		tls_forget_streams(tgid, ssl);
	struct mcps_tls_sock v = {.sk = sk, .ino = ino};
	bpf_map_update_elem(&mcps_tls_socks, &k, &v, BPF_ANY);
	bpf_map_update_elem(&mcps_tls_over, &sk, &k, BPF_ANY);
	tls_announce(tgid, ssl, (struct sock *)sk);
}

// tls_note_socket joins the SSL object the current thread is inside (if any), or whose SSL_write it just returned
// from without a syscall (write: this is a write), to the TCP socket of file.
// Also notes, where Go's crypto/tls is probed, the TLS object over the socket sk for the thread (mcps_tls_last).
static __always_inline void tls_note_socket(struct file *file, __u64 sk, bool write)
{
	if (!mcps_tls_on)
		return;
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id, tgid = id >> 32;
	struct mcps_tls_key *over = mcps_tls_go_seen ? bpf_map_lookup_elem(&mcps_tls_over, &sk) : NULL;
	if (over && over->tgid == tgid) {
		struct mcps_tls_last *last = bpf_map_lookup_elem(&mcps_tls_last, &tid);
		if (!last || last->ssl != over->ssl || last->tgid != tgid || last->write != write) {
			struct mcps_tls_last now = {.ssl = over->ssl, .tgid = tgid, .write = write};
			bpf_map_update_elem(&mcps_tls_last, &tid, &now, BPF_ANY);
		}
	}
	struct mcps_tls_call *c = bpf_map_lookup_elem(&mcps_tls_calls, &tid);
	__u64 ssl;
	if (c) {
		ssl = c->ssl;
	} else {
		__u64 *pending = write ? bpf_map_lookup_elem(&mcps_tls_pending, &tid) : NULL;
		if (!pending)
			return;
		ssl = *pending;
		bpf_map_delete_elem(&mcps_tls_pending, &tid);
	}
	tls_set_socket(tgid, ssl, sk, BPF_CORE_READ(file, f_inode, i_ino));
}
