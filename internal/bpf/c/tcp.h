// SPDX-License-Identifier: GPL-2.0-only
//
// TCP capture for the HTTP transports (Streamable HTTP, legacy HTTP+SSE), on when user space sets mcps_tcp_on. A TCP
// socket carries two streams, keyed by its inode: the bytes it sent (MCPS_STREAM_TCP_TX, copied at the write, as for
// stdio) and the bytes it received (MCPS_STREAM_TCP_RX, copied at the read's exit: a remote peer's writes are never
// seen). On loopback both ends are local, so each byte is seen twice, once per socket; user space pairs the two sockets
// of a connection by their addresses (MCPS_EV_TCP) and keeps one copy.
//
// Classification, once per socket and direction, from the first bytes:
//   - a request that carries MCP (looks_like_http_mcp) makes its stream MCP, at the client's write or, when the
//     client is remote, at the server's read exit;
//   - the other direction of a socket follows: a response to an MCP request is MCP (tcp_sibling_is_mcp).
// A socket whose first received bytes are not such a request is set aside (MCPS_STATE_QUARANTINE) until its entry is
// evicted, so a busy non-MCP TCP server pays one look per connection.
//
// Cost with mcps_tcp_on unset: nothing (stream_of_file leaves at the family check, and the read exits are not loaded).
// With it set, for TCP sockets that are not MCP: one lookup per read or write after the first; the first request on
// a connection is scanned (at most PEEK_BYTES bytes, once).
//
// Limits: HTTP/1.x only (HTTP/2 and TLS come from uprobes); a connection that was open before mcpscope started is
// classified from whatever it carries next, so it is followed from its next MCP request on.
#pragma once

#include "mcps.h"
#include "footprint.h"

// Bytes of a request looked at for the MCP markers: the request line and the headers before the body, in practice.
#define PEEK_BYTES 1024

// The bytes read, a NUL after them (PEEK_SENTINEL), and room for the last 12-byte window of the scan to read past it.
struct mcps_peek {
	char b[PEEK_BYTES + 16];
};

// A scratch buffer per CPU for the scan (a request line and headers do not fit on the 512-byte BPF stack). A
// preempted fentry program can share it with another on the same CPU: the worst outcome is one misjudged connection,
// never a corrupted record.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mcps_peek);
} mcps_peek_buf SEC(".maps");

// Four bytes in lower case, as one little-endian word (| 0x20202020 folds ASCII letters; '-' and '=' are unchanged).
#define WORD(a, b, c, d) ((__u32)(a) | (__u32)(b) << 8 | (__u32)(c) << 16 | (__u32)(d) << 24)
#define FOLD 0x20202020

// looks_like_http_mcp tells whether bytes open an HTTP/1.x POST, GET or DELETE request that carries MCP: within its
// first PEEK_BYTES bytes, "event-stream" (the Accept: text/event-stream every Streamable HTTP and SSE client sends),
// "mcp-" (Mcp-Session-Id, MCP-Protocol-Version, Mcp-Method) or "sessionid=" (the legacy SSE transport's
// POST /message?sessionId=), in any case. The scan compares one 4-byte word per position, so the verifier walks a
// short loop body (a byte-wise compare of every pattern exceeds its limit on jump history).
//
// The scan ends at a NUL byte, which HTTP headers never hold: one is written after the bytes read, so no window
// that reaches past them can match (a NUL folds to a space, in no pattern), and the loop never compares with their
// count. Compared with it, the verifier walked the loop's 1,008 positions twice, for a request shorter than
// PEEK_BYTES and for a longer one (the count known exactly), some 80,000 instructions each time.
static __always_inline bool looks_like_http_mcp(const void *ubuf, __u64 len)
{
	if (len < 16)
		return false;
	__u32 zero = 0;
	struct mcps_peek *p = bpf_map_lookup_elem(&mcps_peek_buf, &zero);
	if (!p)
		return false;
	__u32 n = len > PEEK_BYTES ? PEEK_BYTES : len;
	if (n > PEEK_BYTES) // for the verifier
		return false;
	if (bpf_probe_read_user(p->b, n, ubuf))
		return false;
	p->b[n] = 0; // PEEK_SENTINEL
	__u32 first = *(__u32 *)&p->b[0];
	if (first != WORD('P', 'O', 'S', 'T') && first != WORD('G', 'E', 'T', ' ') && first != WORD('D', 'E', 'L', 'E'))
		return false;
	for (__u32 i = 4; i < PEEK_BYTES; i++) {
		if (!p->b[i])
			return false;
		__u32 w = *(__u32 *)&p->b[i] | FOLD;
		if (w == WORD('m', 'c', 'p', '-'))
			return true;
		if (w == WORD('e', 'v', 'e', 'n'))
			return (*(__u32 *)&p->b[i + 4] | FOLD) == WORD('t', '-', 's', 't') &&
			       (*(__u32 *)&p->b[i + 8] | FOLD) == WORD('r', 'e', 'a', 'm');
		if (w == WORD('s', 'e', 's', 's'))
			return (*(__u32 *)&p->b[i + 4] | FOLD) == WORD('i', 'o', 'n', 'i') &&
			       (p->b[i + 8] | 0x20) == 'd' && p->b[i + 9] == '=';
	}
	return false;
}

// tcp_sibling_is_mcp tells whether the other direction of key's socket is an MCP stream.
static __always_inline bool tcp_sibling_is_mcp(const struct mcps_stream_key *key)
{
	struct mcps_stream_key other = {
		.ino = key->ino,
		.kind = key->kind == MCPS_STREAM_TCP_TX ? MCPS_STREAM_TCP_RX : MCPS_STREAM_TCP_TX,
	};
	struct mcps_stream *st = bpf_map_lookup_elem(&mcps_streams, &other);
	return st && st->state == MCPS_STATE_MCP;
}

// emit_conn reports the addresses of the connection of sk (a TCP socket) for the stream key of generation gen.
static __always_inline void emit_conn(struct sock *sk, const struct mcps_stream_key *key, __u64 gen)
{
	struct {
		struct mcps_event_hdr hdr;
		struct mcps_tcp_conn conn;
	} ev = {};
	fill_hdr(&ev.hdr, MCPS_EV_TCP, key);
	ev.hdr.gen = gen;
	ev.hdr.len = sizeof(ev.conn);
	ev.conn.family = BPF_CORE_READ(sk, __sk_common.skc_family);
	ev.conn.sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	ev.conn.dport = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (ev.conn.family == AF_INET6) {
		BPF_CORE_READ_INTO(&ev.conn.saddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&ev.conn.daddr, sk, __sk_common.skc_v6_daddr);
	} else {
		BPF_CORE_READ_INTO((__u32 *)ev.conn.saddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)ev.conn.daddr, sk, __sk_common.skc_daddr);
	}
	if (bpf_ringbuf_output(&mcps_events, &ev, sizeof(ev), wakeup_flags()))
		stat_add(MCPS_STAT_LOST_EVENTS, 1);
}

// file_sock returns the struct sock of file, a socket.
static __always_inline struct sock *file_sock(__u64 file)
{
	struct socket *sock = BPF_CORE_READ((struct file *)file, private_data);
	return BPF_CORE_READ(sock, sk);
}

// emit_tcp_conn reports the addresses of the connection of file (a TCP socket) for the stream key of generation gen.
static __always_inline void emit_tcp_conn(__u64 file, const struct mcps_stream_key *key, __u64 gen)
{
	emit_conn(file_sock(file), key, gen);
}

// new_tcp_stream makes key an MCP stream and reports its connection.
static __always_inline void new_tcp_stream(__u64 file, const struct mcps_stream_key *key)
{
	struct mcps_stream fresh = {.gen = bpf_ktime_get_ns(), .state = MCPS_STATE_MCP};
	bpf_map_update_elem(&mcps_streams, key, &fresh, BPF_ANY);
	stat_add(MCPS_STAT_STREAMS, 1);
	emit_tcp_conn(file, key, fresh.gen);
}

// tcp_read_enter saves what the read's exit needs to copy the bytes received on an MCP TCP stream (st: its entry, if
// any), or to classify a stream not yet seen.
static __always_inline int tcp_read_enter(const struct mcps_stream_key *key, struct mcps_stream *st, bool traced,
					  __u32 fd, __u64 file, __u64 buf, __u32 iov, __u64 vlen)
{
	__u32 classify = 0;
	if (st && st->state == MCPS_STATE_QUARANTINE)
		return 0;
	if (!st || st->state != MCPS_STATE_MCP) {
		if (tcp_sibling_is_mcp(key)) // a client reading the responses to its MCP requests
			new_tcp_stream(file, key);
		else if (!traced)
			return 0;
		else
			classify = 1;
	}
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	st = bpf_map_lookup_elem(&mcps_streams, key);
	if (st && st->reader != tgid) {
		st->reader = tgid;
		mark_participant(tgid);
	}
	struct mcps_write_args a = {
		.buf = buf,
		.vlen = vlen,
		.key = *key,
		.iov = iov,
		.fd = fd,
		.enter_ts = bpf_ktime_get_ns(),
		.classify = classify,
		.file = file,
	};
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	bpf_map_update_elem(&mcps_write_args, &tid, &a, BPF_ANY);
	return 0;
}

// tcp_classify_received decides, at the exit of the first read of a stream not yet classified, whether the bytes
// received are MCP (true: copy them). They are when they open an MCP request, or when the socket's other direction
// became MCP while the read waited: a client's reader blocked in read(2) before the first request was written (Go's
// reader goroutine can enter just before it) returns that request's response, and setting it aside lost every
// response on the connection. Anything else sets the socket's received side aside.
static __always_inline bool tcp_classify_received(struct mcps_write_args *a, __u64 received)
{
	bool request = false;
	if (!tcp_sibling_is_mcp(&a->key)) {
		__u64 first_len = received;
		const void *first = first_buffer(a->buf, a->iov, &first_len);
		if (first_len > received)
			first_len = received;
		request = first && looks_like_http_mcp(first, first_len);
		if (!request) {
			struct mcps_stream aside = {.state = MCPS_STATE_QUARANTINE};
			bpf_map_update_elem(&mcps_streams, &a->key, &aside, BPF_NOEXIST);
			return false;
		}
	}
	new_tcp_stream(a->file, &a->key);
	// The reader of an MCP request is an MCP server: a footprint root before it handles the request.
	if (request && mcps_fp_on)
		fp_auto_root(bpf_get_current_pid_tgid() >> 32);
	return true;
}
