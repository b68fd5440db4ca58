// SPDX-License-Identifier: GPL-2.0-only
//
// HTTPS capture: the plaintext of TLS connections, from uprobes on the TLS library's read and write functions, so
// MCP over HTTPS is parsed like plain HTTP. Loaded with mcps_tcp_on and mcps_tls_on; user space attaches them to
// every OpenSSL it finds (libssl.so.1.1 and .3, BoringSSL, and the OpenSSL that Node.js links into its binary), and
// to Go's crypto/tls in every Go program it finds (stripped ones included: the functions are found from .gopclntab).
//
// Hooks: uprobe and uretprobe on SSL_write, SSL_write_ex, SSL_read and SSL_read_ex, and on GnuTLS's
// gnutls_record_send and gnutls_record_recv (the session stands for the SSL object). The entry saves the call's
// arguments by thread; the return copies the bytes the call moved (its return value, or *written / *readbytes for
// the _ex forms) into the SSL object's streams (MCPS_STREAM_TLS_TX / _RX, keyed by tls_stream_ino). The socket is
// learned from the TCP syscalls the thread makes inside the call (OpenSSL's socket BIO, GnuTLS's default transport), or, for libraries that
// move ciphertext through memory BIOs (Node.js), from the thread's first TCP write after an SSL_write (its
// ciphertext); its addresses are then reported for the streams (MCPS_EV_TCP), and user space joins them to the
// connection by address like TCP streams. Go: uprobes on crypto/tls.(*Conn).Write and Read, and on each of their
// return instructions (see tls_go_enter); the socket comes from the conn's file descriptor.
//
// Classification: as for TCP (tcp.h), a stream becomes MCP when its first plaintext is an HTTP request carrying MCP,
// or an HTTP/2 connection preface, either side's (HPACK hides the headers from a cheap scan: user space sets aside an
// HTTP/2 connection whose first request is not MCP, through mcps_quarantine), and the other direction of the same
// connection follows; anything else is set aside until its entry is evicted.
//
// Cost: two uprobe exceptions per SSL call of every process that uses the library (about a microsecond each), two
// lookups to leave for streams that are not MCP. Only processes that call these functions pay; nothing is added to
// the syscall path beyond tls.h.
//
// Limits: a memory-BIO connection that only ever reads (no SSL_write) is never joined to its socket, and is
// reported without addresses; a thread that writes another socket between an SSL_write and its ciphertext would
// join the wrong one (libuv writes the ciphertext before it returns to the loop). A Go read into a buffer on the
// goroutine's stack that grows while the call blocks is copied from the old stack (net/http's buffers are on the
// heap).
#include "mcps.h"
#include "tcp.h"
#include "tls.h"

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} mcps_copy_progs_tls SEC(".maps");

// MCPS_TLSM_SLOTS slots per CPU (user space sizes it), taken by compare-and-swap as for the uprobe_multi programs:
// perf-event uprobe programs too run preemptibly and without a per-CPU guard on current kernels, so two tasks can be
// inside one on one CPU (a shared slot mixed two records in a 7.2 guest: a read's bytes under the write's stream).
// The compat object (no compare-and-swap before 5.12, where the kernel's guard still holds) keeps one per CPU.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mcps_data_event);
} mcps_scratch_tls SEC(".maps");

// The same for the uprobe_multi programs (mcps_tls_m_*): a tail call stays within one attach type. The scratch holds
// MCPS_TLSM_SLOTS slots per CPU (see mcps_tlsm_busy).
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} mcps_copy_progs_tlsm SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mcps_data_event);
} mcps_scratch_tlsm SEC(".maps");

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

static __always_inline void tls_classify_write(__u32 tgid, __u64 ssl, __u64 buf, __u64 len);

// Set by user space for watch --debug-events: every hit of a TLS probe of a traced process is reported, so that a
// byte the kernel never numbered can be traced to the call that moved it. Off (always, outside diagnosis), the code
// below is dead and the verifier never sees it.
const volatile __u8 mcps_debug_tls = 0;

// What a TLS probe hit did (struct mcps_tls_hit.site).
enum mcps_tls_site {
	MCPS_TLS_HIT_ENTER = 1,       // an entry, no call of the thread (goroutine) pending
	MCPS_TLS_HIT_ENTER_AGAIN = 2, // an entry with the pending call's arguments: the same call re-run from its entry
	MCPS_TLS_HIT_ENTER_OTHER = 3, // an entry with other arguments: the pending call's return was never seen
	MCPS_TLS_HIT_RET = 4,         // a return that found its call
	MCPS_TLS_HIT_RET_NONE = 5,    // a return with no call pending
	MCPS_TLS_HIT_SAVE_LOST = 6,   // an entry whose call could not be stored, or was not found right after: n, the error
	MCPS_TLS_HIT_RET_SEARCH = 7,  // after a return with no call (Go): n = 1 if a second lookup found it, + 2 per entry of
				      // the map holding its goroutine (under any key), + 4 if one of those has its very key
};

// An MCPS_EV_TLS_HIT record: hdr.ino is the connection's stream number, hdr.gen the key of the call (goroutine or
// thread), hdr.offset the buffer, hdr.lost the length asked (entries) or moved (returns).
struct mcps_tls_hit {
	struct mcps_event_hdr hdr;
	__u64 ip;   // the probed instruction
	__u64 sp;   // the stack pointer there
	__u32 site; // enum mcps_tls_site
	__u32 cpu;
};

// tls_hit reports a probe hit (mcps_debug_tls). Out of line, and built in the ring buffer rather than on the stack:
// the entry programs are near the verifier's budget, and the return programs' stacks near its 512 bytes.
// c is the call (NULL: none found), n the length asked (entries) or the register holding the result (returns).
static __noinline void tls_hit(struct pt_regs *ctx, __u32 site, __u64 key, const struct mcps_tls_call *c, __u64 n)
{
	struct mcps_tls_hit *h = bpf_ringbuf_reserve(&mcps_events, sizeof(*h), 0);
	if (!h)
		return;
	__u64 id = bpf_get_current_pid_tgid();
	h->hdr.kind = MCPS_EV_TLS_HIT;
	h->hdr.stream_kind = 0;
	h->hdr._pad = 0;
	h->hdr.len = sizeof(*h) - sizeof(h->hdr);
	h->hdr.tgid = id >> 32;
	h->hdr.tid = (__u32)id;
	h->hdr.ts = bpf_ktime_get_ns();
	h->hdr.ino = 0;
	h->hdr.offset = 0;
	if (c) {
		h->hdr.stream_kind = c->write ? MCPS_STREAM_TLS_TX : MCPS_STREAM_TLS_RX;
		h->hdr.ino = tls_stream_ino(id >> 32, c->ssl);
		h->hdr.offset = c->buf;
	}
	h->hdr.gen = key;
	h->hdr.lost = n;
	bpf_get_current_comm(h->hdr.comm, sizeof(h->hdr.comm));
	h->ip = PT_REGS_IP(ctx);
	h->sp = PT_REGS_SP(ctx);
	h->site = site;
	h->cpu = bpf_get_smp_processor_id();
	bpf_ringbuf_submit(h, 0);
}

// tls_enter_site names an entry's hit given the call pending for its thread or goroutine (old, or NULL).
static __always_inline __u32 tls_enter_site(const struct mcps_tls_call *old, const struct mcps_tls_call *c)
{
	if (!old)
		return MCPS_TLS_HIT_ENTER;
	if (old->ssl != c->ssl || old->buf != c->buf || old->len != c->len || old->write != c->write)
		return MCPS_TLS_HIT_ENTER_OTHER;
	return MCPS_TLS_HIT_ENTER_AGAIN;
}

// tls_mark_write marks the epoch boundary of a footprint root about to write plaintext to ssl's connection
// (fp_write_mark).
static __always_inline void tls_mark_write(__u32 tgid, __u64 ssl)
{
	struct mcps_stream_key key = {.ino = tls_stream_ino(tgid, ssl), .kind = MCPS_STREAM_TLS_TX};
	fp_write_mark(&key);
}

// tls_restart_stream restarts the stream a TLS call of ssl moved bytes on (write: its sending side) when the call's bytes
// are lost and how many is unknown, and counts it in stat: the stream takes a new generation, which user space counts
// (http_restarts) and parses past as a gap, instead of splicing what follows onto what came before.
static __always_inline void tls_restart_stream(__u32 tgid, __u64 ssl, __u32 write, __u32 stat)
{
	stat_add(stat, 1);
	struct mcps_stream_key key = {.ino = tls_stream_ino(tgid, ssl), .kind = write ? MCPS_STREAM_TLS_TX : MCPS_STREAM_TLS_RX};
	struct mcps_stream *st = bpf_map_lookup_elem(&mcps_streams, &key);
	if (!st || st->state != MCPS_STATE_MCP)
		return;
	struct mcps_stream fresh = {.gen = bpf_ktime_get_ns(), .state = MCPS_STATE_MCP};
	bpf_map_update_elem(&mcps_streams, &key, &fresh, BPF_ANY);
}

// tls_restart is tls_restart_stream as a function of its own (the entry programs' verifier budget); the Go return
// program inlines it (a call would add its frame to the program's, past the 512-byte stack).
static __noinline void tls_restart(__u32 tgid, __u64 ssl, __u32 write, __u32 stat)
{
	tls_restart_stream(tgid, ssl, write, stat);
}

// tls_unreturned handles a call whose return was never seen, found when the same thread (goroutine, for Go) calls
// again: the kernel skipped the return probe's run (it never runs one program twice at once on a CPU, and on a
// preemptible kernel a run preempted midway makes the next one on that CPU be skipped). Its bytes are gone.
static __always_inline void tls_unreturned(__u32 tgid, const struct mcps_tls_call *old)
{
	if (old->tgid == tgid) // else the thread id of a process gone: not this one's call
		tls_restart(tgid, old->ssl, old->write, MCPS_STAT_TLS_UNRETURNED);
}

// tls_save_call stores a call at its entry for its return probe. A hash map update can be refused (on kernels with
// resilient spinlocks, 6.15+, a bucket lock held too long by a preempted or descheduled CPU times out): the call's
// bytes are then lost, and its stream restarts.
// With mcps_debug_tls, a call not found right after it was stored is reported too (hitkey: the call's key).
static __always_inline void tls_save_call(struct pt_regs *ctx, void *calls, const void *key, __u64 hitkey,
					  const struct mcps_tls_call *c)
{
	long err = bpf_map_update_elem(calls, key, c, BPF_ANY);
	if (mcps_debug_tls && (err || !bpf_map_lookup_elem(calls, key)))
		tls_hit(ctx, MCPS_TLS_HIT_SAVE_LOST, hitkey, c, err);
	if (err)
		tls_restart(c->tgid, c->ssl, c->write, MCPS_STAT_MAP_REFUSED);
}

// How a probed library function takes its length and returns its byte count.
enum tls_len_form {
	TLS_LEN_INT = 0, // SSL_write/SSL_read: an int count; the return is the bytes moved
	TLS_LEN_EX = 1,  // SSL_write_ex/SSL_read_ex: a size_t count; the bytes moved are stored at the fourth argument
	TLS_LEN_SIZE = 2, // gnutls_record_send/_recv: a size_t count; the return (ssize_t) is the bytes moved
};

// TLS_UNPREEMPTED: the entry and return programs run with preemption off from their first to their last instruction,
// but for two spans: the classifier of a new connection's first plaintext (tls_opens), and the copy of a return, which
// follows the reservation of the stream range in a tail call that cannot be made with it off (copy_run holds it off
// around each piece). Where uprobe programs run preemptibly and without a per-CPU recursion guard (Debian's 7.2:
// PREEMPT_DYNAMIC, uprobe programs under tasks-trace RCU), two runs of one program interleave on a CPU, and in a 7.2
// guest under qemu their values went wrong mid-run: registers and call keys that were another run's, calls stored and
// not found at their return, a connection reported under another object's number right after an entry's guarded part.
// Holding preemption off only around the registers and the call removed the lost calls; the rest of the run is held now
// too. The kfuncs exist from 6.11 (mcps_preempt_kfuncs); older kernels run the programs unguarded.
static __always_inline int tls_enter(struct pt_regs *ctx, __u32 write, enum tls_len_form form)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	if (tgid == mcps_self_tgid || !traced_process(tgid) || tls_stopped())
		return 0;
	preempt_off(); // TLS_UNPREEMPTED
	struct mcps_tls_call c = {
		.ssl = PT_REGS_PARM1(ctx),
		.buf = PT_REGS_PARM2(ctx),
		.len = form == TLS_LEN_INT ? (__u32)PT_REGS_PARM3(ctx) : PT_REGS_PARM3(ctx),
		.size_ptr = form == TLS_LEN_EX ? PT_REGS_PARM4(ctx) : 0,
		.enter_ts = bpf_ktime_get_ns(),
		.write = write,
		.tgid = tgid,
	};
	// OpenSSL's (GnuTLS's) read and write functions never call each other; the same call seen twice is a probe hit
	// again (a signal during its single step re-runs the instruction).
	struct mcps_tls_call *old = bpf_map_lookup_elem(&mcps_tls_calls, &tid);
	__u32 site = tls_enter_site(old, &c);
	if (mcps_debug_tls)
		tls_hit(ctx, site, tid, &c, c.len);
	if (old && site == MCPS_TLS_HIT_ENTER_OTHER)
		tls_unreturned(tgid, old);
	tls_save_call(ctx, &mcps_tls_calls, &tid, tid, &c);
	if (write) {
		tls_classify_write(tgid, c.ssl, c.buf, c.len);
		tls_mark_write(tgid, c.ssl);
	}
	preempt_on();
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

static __always_inline struct mcps_write_args *tls_prepare(__u64 id, const struct mcps_tls_call *call, __u64 n,
							   bool multi);

// tls_exit_prepare handles a return of SSL_read/SSL_write (and kin): the call it ends, and the copy of its bytes.
static __always_inline struct mcps_write_args *tls_exit_prepare(struct pt_regs *ctx, __u64 id, bool multi)
{
	__u32 tid = (__u32)id;
	__u64 rc = PT_REGS_RC(ctx);
	struct mcps_tls_call *c = bpf_map_lookup_elem(&mcps_tls_calls, &tid);
	if (!c)
		return NULL;
	struct mcps_tls_call call = *c;
	bpf_map_delete_elem(&mcps_tls_calls, &tid);
	if (tls_stopped())
		return NULL;
	if (mcps_debug_tls)
		tls_hit(ctx, MCPS_TLS_HIT_RET, tid, &call, rc);

	// OpenSSL's functions return int (the upper half of the register is not theirs); GnuTLS's a ssize_t that is at
	// most a record's 16 KiB.
	int ret = (int)rc;
	__u64 n = 0;
	if (call.size_ptr) {
		if (ret != 1 || bpf_probe_read_user(&n, sizeof(n), (const void *)call.size_ptr))
			return NULL;
	} else if (ret > 0) {
		n = ret;
	}
	return tls_prepare(id, &call, n, multi);
}

// looks_like_h2_preface tells whether bytes start with the HTTP/2 client connection preface.
static __always_inline bool looks_like_h2_preface(const void *ubuf, __u64 len)
{
	__u8 b[16];
	if (len < sizeof(b) || bpf_probe_read_user(b, sizeof(b), ubuf))
		return false;
	return *(__u32 *)&b[0] == WORD('P', 'R', 'I', ' ') && *(__u32 *)&b[4] == WORD('*', ' ', 'H', 'T') &&
	       *(__u32 *)&b[8] == WORD('T', 'P', '/', '2') && *(__u32 *)&b[12] == WORD('.', '0', '\r', '\n');
}

// starts_request tells whether bytes that made a stream MCP open a client's request: an HTTP/1 POST, GET or DELETE
// (so looks_like_http_mcp found its MCP markers), or the HTTP/2 client preface. Four bytes and the preface, no scan:
// the classification above already did it, and a second scan would exceed the verifier's budget here.
static __always_inline bool starts_request(const void *ubuf, __u64 len)
{
	__u32 w;
	if (len < 16 || bpf_probe_read_user(&w, sizeof(w), ubuf))
		return false;
	return w == WORD('P', 'O', 'S', 'T') || w == WORD('G', 'E', 'T', ' ') || w == WORD('D', 'E', 'L', 'E') ||
	       looks_like_h2_preface(ubuf, len);
}

// looks_like_h2_start tells whether bytes open an HTTP/2 connection: the client preface ("PRI * HTTP/2.0\r\n..."), or
// the server's (a SETTINGS frame on stream 0 that is not an acknowledgement), which a server may write before it has
// read the client's. HTTP/2 headers are compressed, so whether the connection carries MCP is judged in user space
// from its first request (it sets the connection aside through mcps_quarantine otherwise).
static __always_inline bool looks_like_h2_start(const void *ubuf, __u64 len)
{
	__u8 b[16];
	if (len < 9 || bpf_probe_read_user(b, 9, ubuf))
		return false;
	__u32 length = (__u32)b[0] << 16 | (__u32)b[1] << 8 | b[2];
	if (b[3] == 4 && b[4] == 0 && !b[5] && !b[6] && !b[7] && !b[8] && length % 6 == 0 && length <= 96)
		return true;
	return looks_like_h2_preface(ubuf, len);
}

// looks_like_h2_frame tells whether bytes start with a plausible HTTP/2 frame header: the first plaintext seen of a
// connection that began before the probes, where HTTP/2 has no other marker (h2.LooksLikeFrame in user space is the
// same test, and says why). User space judges the connection by its first request's body and sets it aside if that is
// not JSON-RPC. A global function, verified once on its own: inlined, or verified at each call, its branches
// multiplied the paths of the return programs past the verifier's budget.
__noinline int looks_like_h2_frame(__u64 ubuf, __u64 len)
{
	__u8 b[9];
	if (len < 9 || bpf_probe_read_user(b, 9, (const void *)ubuf) || (b[5] & 0x80))
		return false;
	__u32 length = (__u32)b[0] << 16 | (__u32)b[1] << 8 | b[2];
	__u8 flags = b[4];
	bool stream = b[5] | b[6] | b[7] | b[8];
	switch (b[3]) {
	case 0: // DATA
		return stream && !(flags & ~0x09);
	case 1: // HEADERS
		return stream && !(flags & ~0x2d) && length;
	case 3: // RST_STREAM
		return stream && !flags && length == 4;
	case 4: // SETTINGS
		return !stream && !(flags & ~0x01) && length % 6 == 0;
	case 6: // PING
		return !stream && !(flags & ~0x01) && length == 8;
	case 7: // GOAWAY
		return !stream && !flags && length >= 8;
	case 8: // WINDOW_UPDATE
		return !flags && length == 4;
	}
	return false;
}

// tls_plaintext_opens tells whether a TLS connection's plaintext opens, or plausibly continues, an MCP-carrying HTTP
// exchange: an HTTP/1 request with MCP markers, an HTTP/2 start, or (capture joined the connection) a plausible
// HTTP/2 frame. A global function, verified once on its own: the header scan's loop, verified inside each return
// program, took them to 80 % of the verifier's budget.
__noinline int tls_plaintext_opens(__u64 ubuf, __u64 len)
{
	return looks_like_http_mcp((const void *)ubuf, len) || looks_like_h2_start((const void *)ubuf, len) ||
	       looks_like_h2_frame(ubuf, len);
}

// tls_opens calls tls_plaintext_opens from a program that holds preemption off (TLS_UNPREEMPTED), turning it on for
// the call: kernels from 6.11 (the kfuncs) until the rule was relaxed refuse a global function call with it off
// ("global function calls are not allowed with preemption disabled"; the 6.12 guest of the kernel matrix refused
// every TLS program so, and watch fell back to the portable path). Meanwhile another run on this CPU may take the
// scan's scratch buffer: at worst one misjudged connection, as for a preempted fentry program (tcp.h).
static __always_inline bool tls_opens(__u64 ubuf, __u64 len)
{
	preempt_on();
	bool opens = tls_plaintext_opens(ubuf, len);
	preempt_off();
	return opens;
}

// tls_new_stream makes key an MCP stream and, when its socket (sk) is known, reports its connection.
static __always_inline void tls_new_stream(const struct mcps_stream_key *key, const struct mcps_tls_sock *sk)
{
	struct mcps_stream fresh = {.gen = bpf_ktime_get_ns(), .state = MCPS_STATE_MCP};
	bpf_map_update_elem(&mcps_streams, key, &fresh, BPF_ANY);
	stat_add(MCPS_STAT_STREAMS, 1);
	if (sk)
		emit_conn((struct sock *)sk->sk, key, fresh.gen);
}

// TLS_JUDGE_TRIES is how many plaintexts of a TLS direction are judged before it is set aside for good (see
// tls_prepare; a set-aside entry counts them in its offset).
#define TLS_JUDGE_TRIES 4

// tls_classify_write judges a connection's sending side at the write's entry, before its bytes can reach the peer:
// the reply, read on another thread (Go's and most HTTP clients' read loops) and judged at that read's return, then
// finds its sibling already MCP. Judged only at the write's return, a reply read quickly enough was set aside for
// good. A write that does not open an MCP request is left to its return (its sibling may be MCP by then).
static __always_inline void tls_classify_write(__u32 tgid, __u64 ssl, __u64 buf, __u64 len)
{
	struct mcps_stream_key key = {.ino = tls_stream_ino(tgid, ssl), .kind = MCPS_STREAM_TLS_TX};
	struct mcps_stream *st = bpf_map_lookup_elem(&mcps_streams, &key);
	// Judged already, except a closed stream (the object's last connection: this call opens its next) and a
	// direction set aside with tries left (tls_prepare).
	bool retry = st && st->state == MCPS_STATE_QUARANTINE && st->offset < TLS_JUDGE_TRIES;
	if ((st && st->state != MCPS_STATE_CLOSED && !retry) || bpf_map_lookup_elem(&mcps_quarantine, &key))
		return;
	if (!tls_opens(buf, len))
		return;
	struct mcps_tls_key k = {.ssl = ssl, .tgid = tgid};
	tls_new_stream(&key, bpf_map_lookup_elem(&mcps_tls_socks, &k));
}

// tls_prepare readies the copy of the n bytes of plaintext a TLS call moved into its connection's stream, classifying
// the stream first if it is new, and returns the copy's arguments (NULL: nothing to copy). multi: the caller is a
// uprobe_multi program (its own prog array and scratch). Either takes a scratch slot from mcps_tlsm_busy (the two
// kinds are never loaded together), except in the compat object.
static __always_inline struct mcps_write_args *tls_prepare(__u64 id, const struct mcps_tls_call *call, __u64 n,
							   bool multi)
{
	if (n == 0)
		return NULL;
	__u32 tgid = id >> 32, tid = (__u32)id;
	struct mcps_tls_key k = {.ssl = call->ssl, .tgid = tgid};
	struct mcps_tls_sock *sk = bpf_map_lookup_elem(&mcps_tls_socks, &k);
	struct mcps_stream_key key = {.ino = tls_stream_ino(tgid, call->ssl),
				      .kind = call->write ? MCPS_STREAM_TLS_TX : MCPS_STREAM_TLS_RX};
	struct mcps_stream *st = bpf_map_lookup_elem(&mcps_streams, &key);
	// A direction set aside is judged again while it has had fewer than TLS_JUDGE_TRIES plaintexts, and taken up
	// once the other direction is MCP: capture that joins a connection inside a large write sees a first plaintext
	// that starts mid-frame, and the next one starts a frame.
	if (st && st->state == MCPS_STATE_QUARANTINE && st->offset >= TLS_JUDGE_TRIES && !tls_sibling_is_mcp(&key))
		return NULL;
	// A call that began before TCP closed the connection delivers into its closed stream; a later one is the
	// object's next connection, classified afresh.
	bool late = st && st->state == MCPS_STATE_CLOSED && call->enter_ts < st->closed_at;
	if (!st || (st->state != MCPS_STATE_MCP && !late)) {
		if (bpf_map_lookup_elem(&mcps_quarantine, &key)) // user space set it aside
			return NULL;
		if (!tls_sibling_is_mcp(&key) && !tls_opens(call->buf, n)) {
			if (st && st->state == MCPS_STATE_QUARANTINE) {
				st->offset++;
			} else {
				struct mcps_stream aside = {.state = MCPS_STATE_QUARANTINE, .offset = 1};
				bpf_map_update_elem(&mcps_streams, &key, &aside, BPF_ANY);
			}
			return NULL;
		}
		tls_new_stream(&key, sk);
		// The reader of an MCP request is an MCP server: a footprint root before it handles the request (a client
		// calls a tool right after initialize). HTTP/2 hides the request in compressed headers: its server is made
		// a root at the client's preface, and user space undoes it if the connection turns out not to be MCP.
		if (mcps_fp_on && !call->write && starts_request((const void *)call->buf, n))
			fp_auto_root(tgid);
		st = bpf_map_lookup_elem(&mcps_streams, &key);
		if (!st)
			return NULL;
	}
	// The ciphertext is written after the call returns: that write names the socket (OpenSSL with memory BIOs).
	if (!sk && call->write && !(call->flags & MCPS_TLS_GO))
		bpf_map_update_elem(&mcps_tls_pending, &tid, &call->ssl, BPF_ANY);
	struct mcps_write_args a = {
		.buf = call->buf,
		.key = key,
		.total = n,
		.offset = reserve(&st->offset, n),
		.gen = st->gen,
		// Sent plaintext is dated when the call began, received plaintext when it returned (see stdio.c).
		.enter_ts = call->write ? call->enter_ts : bpf_ktime_get_ns(),
	};
	if (!call->write)
		fp_stream_mark(&key, a.gen, a.offset + n);
	mark_participant(tgid);
	// A refused update (see tls_save_call) must not leave an older entry of this thread to be copied instead.
	struct mcps_write_args *ap = NULL;
	if (!bpf_map_update_elem(&mcps_write_args, &tid, &a, BPF_ANY))
		ap = bpf_map_lookup_elem(&mcps_write_args, &tid);
	if (!ap) { // refused: the range is reserved, so the bytes are a counted hole
		stat_add(MCPS_STAT_MAP_REFUSED, 1);
		lose(st, MCPS_STAT_LOST_BYTES, n);
		return NULL;
	}
#ifdef MCPS_NO_ATOMIC_FETCH
	if (!multi)
		return ap;
#endif
	__u32 cpu = bpf_get_smp_processor_id();
	struct mcps_tlsm_slots *b = bpf_map_lookup_elem(&mcps_tlsm_busy, &cpu);
	__u32 d = MCPS_TLSM_SLOTS;
	if (b) {
#pragma unroll
		for (__u32 i = 0; i < MCPS_TLSM_SLOTS; i++) {
			if (__sync_val_compare_and_swap(&b->busy[i], 0, 1) == 0) {
				d = i;
				break;
			}
		}
	}
	if (d >= MCPS_TLSM_SLOTS) { // more copies preempted on this CPU than slots: the bytes are lost, and counted
		lose(st, MCPS_STAT_BUSY_BYTES, n);
		bpf_map_delete_elem(&mcps_write_args, &tid);
		return NULL;
	}
	ap->slot = d;
	ap->slot_held = 1;
	ap->slot_cpu = cpu;
	return ap;
}

// The fields of the tracepoint sock/inet_sock_set_state used here (stable since 4.16).
struct inet_sock_state_ctx {
	__u64 _common;
	const void *skaddr;
	int oldstate;
	int newstate;
};

// mcps_tls_sock_state ends a TLS object's streams when TCP has closed its socket's connection (TCP_CLOSE: after
// both ends' FINs, or a reset): a close record for the object's stream tells user space to end the connection now,
// not when the process exits, and the object forgets its socket and marks its streams closed here and now, so its
// address taken by a new connection (OpenSSL's allocator hands it back) starts a new generation (user space, which
// learns of the close later, must not forget the streams itself: by then they may be the new connection's). The
// streams are marked, not dropped: a call that began before the close may return after it (its peer read the
// reply and hung up before the writer's return probe ran), and its bytes are this connection's (tls_prepare).
// TCP_CLOSE, not the close(2) of an fd: another fd (a dup, a fork's copy) may still hold the socket, and a
// half-closed one (shutdown) may still read.
//
// Hook: the tracepoint sock/inet_sock_set_state, a few runs per TCP connection on the host; one lookup for every
// socket that is not under a TLS object of a traced process.
SEC("tracepoint/sock/inet_sock_set_state")
int mcps_tls_sock_state(struct inet_sock_state_ctx *ctx)
{
	if (ctx->newstate != TCP_CLOSE)
		return 0;
	__u64 sk = (__u64)ctx->skaddr;
	struct mcps_tls_key *over = bpf_map_lookup_elem(&mcps_tls_over, &sk);
	if (!over)
		return 0;
	struct mcps_tls_key k = *over;
	bpf_map_delete_elem(&mcps_tls_over, &sk);
	struct mcps_tls_sock *known = bpf_map_lookup_elem(&mcps_tls_socks, &k);
	if (!known || known->sk != sk)
		return 0; // the object has moved on to another socket, whose streams are not this connection's
	bpf_map_delete_elem(&mcps_tls_socks, &k);
	struct mcps_stream_key key = {.ino = tls_stream_ino(k.tgid, k.ssl), .kind = MCPS_STREAM_TLS_TX};
	struct mcps_stream *st = bpf_map_lookup_elem(&mcps_streams, &key);
	if (!st || st->state != MCPS_STATE_MCP) {
		key.kind = MCPS_STREAM_TLS_RX;
		st = bpf_map_lookup_elem(&mcps_streams, &key);
	}
	if (st && st->state == MCPS_STATE_MCP) {
		struct mcps_event_hdr h;
		fill_hdr(&h, MCPS_EV_CLOSE, &key);
		// The state change may run in softirq context, on any task's behalf: the record names the object's
		// process, and no thread or command name.
		h.tgid = k.tgid;
		h.tid = 0;
		__builtin_memset(h.comm, 0, sizeof(h.comm));
		h.gen = st->gen;
		emit_small(&h);
	}
	tls_close_streams(k.tgid, k.ssl, bpf_ktime_get_ns());
	return 0;
}

// Go's crypto/tls: (*Conn).Write(b []byte) (int, error) and (*Conn).Read(b []byte) (int, error), in Go's register
// ABI (Go 1.17+ on amd64, 1.18+ on arm64): the receiver and b's pointer and length in the first three integer
// registers, n in the first on return, and the goroutine (g) in a register of its own throughout. A uretprobe would
// rewrite the return address on a goroutine stack that Go may move, so user space probes each return instruction of
// the two functions instead (mcps_tls_go_ret). A goroutine blocked in Read may resume on another thread, so calls are
// keyed by goroutine, not thread.
#if defined(__TARGET_ARCH_x86)
#define GO_ARG1(x) ((x)->ax)
#define GO_ARG2(x) ((x)->bx)
#define GO_ARG3(x) ((x)->cx)
#define GO_G(x) ((x)->r14)
#elif defined(__TARGET_ARCH_arm64)
#define GO_ARG1(x) (__PT_REGS_CAST(x)->regs[0])
#define GO_ARG2(x) (__PT_REGS_CAST(x)->regs[1])
#define GO_ARG3(x) (__PT_REGS_CAST(x)->regs[2])
#define GO_G(x) (__PT_REGS_CAST(x)->regs[28])
#endif

struct mcps_go_call_key {
	__u64 g;
	__u32 tgid;
	__u32 _pad;
};

// A plain hash for the same reason as mcps_tls_calls (tls.h), swept the same way.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct mcps_go_call_key);
	__type(value, struct mcps_tls_call);
} mcps_tls_go_calls SEC(".maps");

// go_conn_sock returns the TCP socket under a *tls.Conn, or NULL when it is not a *net.TCPConn's. The path is the
// same in every Go release with the register ABI: tls.Conn starts with its net.Conn (an interface: type word, then
// data pointer); *net.TCPConn points at its *netFD; a netFD starts with its poll.FD, whose Sysfd follows the 16-byte
// fdMutex. Anything else (another net.Conn, a closed fd) fails the socket check and leaves the stream without
// addresses, as for a memory-BIO connection that never writes.
static __always_inline struct sock *go_conn_sock(__u64 conn)
{
	__u64 data = 0, netfd = 0;
	__s64 fd = -1;
	if (bpf_probe_read_user(&data, sizeof(data), (const void *)(conn + 8)) || !data ||
	    bpf_probe_read_user(&netfd, sizeof(netfd), (const void *)data) || !netfd ||
	    bpf_probe_read_user(&fd, sizeof(fd), (const void *)(netfd + 16)) || fd < 0 || fd > 0x7fffffff)
		return NULL;
	struct file *file = fd_to_file((__u32)fd);
	if (!file)
		return NULL;
	__u32 mode = BPF_CORE_READ(file, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return NULL;
	struct sock *sk = file_sock((__u64)file);
	if (!sk)
		return NULL;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return NULL;
	return sk;
}

// tls_go_enter saves a Write or Read call by goroutine, and the connection's socket, read from the conn each call: a
// tls.Conn freed and another allocated at its address with another socket is a new connection, whose streams start
// afresh.
static __always_inline int tls_go_enter(struct pt_regs *ctx, __u32 write)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	if (tgid == mcps_self_tgid || !traced_process(tgid) || tls_stopped())
		return 0;
	preempt_off(); // TLS_UNPREEMPTED
	if (!mcps_tls_go_seen)
		mcps_tls_go_seen = 1;
	struct mcps_tls_call c = {
		.ssl = GO_ARG1(ctx),
		.buf = GO_ARG2(ctx),
		.len = GO_ARG3(ctx),
		.enter_ts = bpf_ktime_get_ns(),
		.write = write,
		.flags = MCPS_TLS_GO,
		.tgid = tgid,
	};
	struct mcps_go_call_key gk = {.g = GO_G(ctx), .tgid = tgid};
	// A goroutine calls Write or Read again only once the last call returned, except that a call starts over from
	// its entry when its prologue finds the stack too small or a preemption request (the goroutine is descheduled,
	// then re-runs the function): same arguments, on a new stack or the same one. Other arguments mean a return
	// never seen. (A lost return followed by a call with the very same arguments cannot be told from a restart.)
	struct mcps_tls_call *old = bpf_map_lookup_elem(&mcps_tls_go_calls, &gk);
	__u32 site = tls_enter_site(old, &c);
	if (mcps_debug_tls)
		tls_hit(ctx, site, gk.g, &c, c.len);
	if (old && site == MCPS_TLS_HIT_ENTER_OTHER)
		tls_unreturned(tgid, old);
	tls_save_call(ctx, &mcps_tls_go_calls, &gk, gk.g, &c);

	struct sock *sk = go_conn_sock(c.ssl);
	if (sk)
		tls_set_socket(tgid, c.ssl, (__u64)sk, socket_ino(sk));
	if (write) {
		tls_classify_write(tgid, c.ssl, c.buf, c.len);
		tls_mark_write(tgid, c.ssl);
	}
	preempt_on();
	return 0;
}

#ifdef MCPS_MAP_WALK
struct go_call_search {
	struct mcps_go_call_key want;
	__u64 found;
};

static long go_call_search_one(void *map, struct mcps_go_call_key *key, struct mcps_tls_call *c, struct go_call_search *s)
{
	if (key->g == s->want.g) {
		s->found += 2;
		if (key->tgid == s->want.tgid && key->_pad == 0)
			s->found += 4;
	}
	return 0;
}

// go_call_search reports (mcps_debug_tls) where the call of a Go return that found none went: a second lookup, and
// a walk of the whole map (bpf_for_each_map_elem, 5.13+; not in the compat object).
static __noinline void go_call_search(struct pt_regs *ctx, const struct mcps_go_call_key *gk)
{
	struct go_call_search s = {.want = *gk};
	if (bpf_map_lookup_elem(&mcps_tls_go_calls, gk))
		s.found = 1;
	bpf_for_each_map_elem(&mcps_tls_go_calls, go_call_search_one, &s, 0);
	tls_hit(ctx, MCPS_TLS_HIT_RET_SEARCH, gk->g, NULL, s.found);
}
#endif

// tls_go_unentered handles n bytes moved by a Go call whose entry was never seen: it began before the probes were
// attached (a Read blocked for the next request), or, in a 7.2 guest under qemu, its entry program did not run (no
// hit of any kind logged for it). They are counted (calls and bytes), and the stream of the connection whose socket
// the thread last read or wrote, if its TLS object is known, restarts, so that user space marks the message they
// were part of truncated instead of splicing the bytes around the hole. The socket syscall of the call itself names
// it (Read and Write make theirs on the thread they return on); a call that began before the probes read or wrote a
// connection whose object is not known yet, which is only counted. Limits: a Read served from bytes already
// decrypted makes no syscall, and a goroutine moved to another thread between its syscall and its return; then the
// thread's last connection may be another one's.
static __always_inline void tls_go_unentered(__u64 id, __s64 n)
{
	__u32 tid = (__u32)id, tgid = id >> 32;
	stat_add(MCPS_STAT_TLS_UNENTERED_BYTES, n);
	struct mcps_tls_last *last = bpf_map_lookup_elem(&mcps_tls_last, &tid);
	if (last && last->tgid == tgid)
		tls_restart_stream(tgid, last->ssl, last->write, MCPS_STAT_TLS_UNENTERED);
	else
		stat_add(MCPS_STAT_TLS_UNENTERED, 1);
}

// tls_go_ret_prepare handles a return of Write or Read: n, the bytes moved, is in the first result register.
static __always_inline struct mcps_write_args *tls_go_ret_prepare(struct pt_regs *ctx, __u64 id, bool multi)
{
	struct mcps_go_call_key gk = {.g = GO_G(ctx), .tgid = id >> 32};
	__s64 n = (__s64)GO_ARG1(ctx);
	struct mcps_tls_call *c = bpf_map_lookup_elem(&mcps_tls_go_calls, &gk);
	if (!c) {
		if (n > 0 && !tls_stopped() && traced_process(gk.tgid)) {
			tls_go_unentered(id, n);
			if (mcps_debug_tls) {
				tls_hit(ctx, MCPS_TLS_HIT_RET_NONE, gk.g, NULL, n);
#ifdef MCPS_MAP_WALK
				go_call_search(ctx, &gk);
#endif
			}
		}
		return NULL;
	}
	struct mcps_tls_call call = *c;
	bpf_map_delete_elem(&mcps_tls_go_calls, &gk);
	if (tls_stopped())
		return NULL;
	if (mcps_debug_tls)
		tls_hit(ctx, MCPS_TLS_HIT_RET, gk.g, &call, n);
	if (n <= 0)
		return NULL;
	return tls_prepare(id, &call, n, multi);
}

// tls_return runs at the return of a TLS read or write (go: Go's Read or Write; else SSL_read, SSL_write and kin):
// it reserves the range of the call's stream with preemption off, then tail-calls the copy program of its kind of
// probe (copy_start). go and multi are constants.
static __always_inline int tls_return(struct pt_regs *ctx, bool go, bool multi)
{
	__u64 id = bpf_get_current_pid_tgid();
	preempt_off();
	struct mcps_write_args *ap = go ? tls_go_ret_prepare(ctx, id, multi) : tls_exit_prepare(ctx, id, multi);
	preempt_on();
	if (!ap)
		return 0;
	return copy_start(ctx, multi ? (void *)&mcps_copy_progs_tlsm : (void *)&mcps_copy_progs_tls, (__u32)id, ap);
}

SEC("uprobe")
int mcps_tls_ssl_write(struct pt_regs *ctx) { return tls_enter(ctx, 1, TLS_LEN_INT); }
SEC("uprobe")
int mcps_tls_ssl_write_ex(struct pt_regs *ctx) { return tls_enter(ctx, 1, TLS_LEN_EX); }
SEC("uprobe")
int mcps_tls_ssl_read(struct pt_regs *ctx) { return tls_enter(ctx, 0, TLS_LEN_INT); }
SEC("uprobe")
int mcps_tls_ssl_read_ex(struct pt_regs *ctx) { return tls_enter(ctx, 0, TLS_LEN_EX); }
SEC("uprobe")
int mcps_tls_gnutls_send(struct pt_regs *ctx) { return tls_enter(ctx, 1, TLS_LEN_SIZE); }
SEC("uprobe")
int mcps_tls_gnutls_recv(struct pt_regs *ctx) { return tls_enter(ctx, 0, TLS_LEN_SIZE); }
SEC("uretprobe")
int mcps_tls_ssl_ret(struct pt_regs *ctx) { return tls_return(ctx, false, false); }
SEC("uprobe")
int mcps_tls_go_write(struct pt_regs *ctx) { return tls_go_enter(ctx, 1); }
SEC("uprobe")
int mcps_tls_go_read(struct pt_regs *ctx) { return tls_go_enter(ctx, 0); }
SEC("uprobe")
int mcps_tls_go_ret(struct pt_regs *ctx) { return tls_return(ctx, true, false); }

// Entered through mcps_copy_progs_tls only, never attached.
SEC("uprobe")
int mcps_copy_more_tls(struct pt_regs *ctx) { return copy_more(ctx, &mcps_copy_progs_tls, &mcps_scratch_tls); }

// The same programs for uprobe_multi links (Linux 6.6+), which attach all of a file's probes of one program at once:
// a handful of links per file instead of one per function and return instruction. Detaching each perf-event uprobe
// waits for RCU grace periods under a global lock (some 80 ms each here), which made watch's exit slow with a few Go
// programs probed; a uprobe_multi link waits once. The entry program learns which function it is at from the probe's
// cookie (enum mcps_tls_fn).
enum mcps_tls_fn {
	MCPS_TLS_FN_SSL_WRITE = 1,
	MCPS_TLS_FN_SSL_WRITE_EX = 2,
	MCPS_TLS_FN_SSL_READ = 3,
	MCPS_TLS_FN_SSL_READ_EX = 4,
	MCPS_TLS_FN_GO_WRITE = 5,
	MCPS_TLS_FN_GO_READ = 6,
	MCPS_TLS_FN_GNUTLS_SEND = 7,
	MCPS_TLS_FN_GNUTLS_RECV = 8,
};

SEC("uprobe.multi")
int mcps_tls_m_enter(struct pt_regs *ctx)
{
	// One inlined copy of each entry function, with its arguments in registers: the verifier's budget.
	__u32 write = 0;
	enum tls_len_form form = TLS_LEN_INT;
	switch (bpf_get_attach_cookie(ctx)) {
	case MCPS_TLS_FN_GO_WRITE:
		return tls_go_enter(ctx, 1);
	case MCPS_TLS_FN_GO_READ:
		return tls_go_enter(ctx, 0);
	case MCPS_TLS_FN_SSL_WRITE:
		write = 1;
		break;
	case MCPS_TLS_FN_SSL_WRITE_EX:
		write = 1;
		form = TLS_LEN_EX;
		break;
	case MCPS_TLS_FN_SSL_READ:
		break;
	case MCPS_TLS_FN_SSL_READ_EX:
		form = TLS_LEN_EX;
		break;
	case MCPS_TLS_FN_GNUTLS_SEND:
		write = 1;
		form = TLS_LEN_SIZE;
		break;
	case MCPS_TLS_FN_GNUTLS_RECV:
		form = TLS_LEN_SIZE;
		break;
	default:
		return 0;
	}
	return tls_enter(ctx, write, form);
}
SEC("uretprobe.multi")
int mcps_tls_m_ssl_ret(struct pt_regs *ctx) { return tls_return(ctx, false, true); }
SEC("uprobe.multi")
int mcps_tls_m_go_ret(struct pt_regs *ctx) { return tls_return(ctx, true, true); }

// Entered through mcps_copy_progs_tlsm only, never attached.
SEC("uprobe.multi")
int mcps_copy_more_tlsm(struct pt_regs *ctx) { return copy_more(ctx, &mcps_copy_progs_tlsm, &mcps_scratch_tlsm); }
