// SPDX-License-Identifier: GPL-2.0-only
//
// What the syscall hooks do for TLS capture (tls.c): while a thread is inside SSL_read or SSL_write, the socket
// syscalls it makes are those of the SSL object's connection, which joins the object to its TCP socket. Cost with
// mcps_tls_on unset: nothing; with it set, one lookup in mcps_tls_calls per TCP socket read or write.
#pragma once

#include "mcps.h"

// An SSL_read/SSL_write call in flight, by thread.
struct mcps_tls_call {
	__u64 ssl;      // the SSL object (first argument)
	__u64 buf;      // the plaintext buffer
	__u64 size_ptr; // SSL_read_ex/SSL_write_ex: where the byte count is stored (size_t *); 0 otherwise
	__u64 enter_ts; // when the call began
	__u32 write;    // 1 for SSL_write*, 0 for SSL_read*
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); // thread id
	__type(value, struct mcps_tls_call);
} mcps_tls_calls SEC(".maps");

// An SSL object, named by its process and address (SSL objects of two processes may share an address).
struct mcps_tls_key {
	__u64 ssl;
	__u32 tgid;
	__u32 _pad;
};

// The socket under an SSL object.
struct mcps_tls_sock {
	__u64 ino; // the TCP socket's inode: TLS streams share it with the socket's TCP streams
	__u64 sk;  // its struct sock, for the connection's addresses
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct mcps_tls_key);
	__type(value, struct mcps_tls_sock);
} mcps_tls_socks SEC(".maps");

// tls_note_socket joins the SSL object the current thread is inside (if any) to the TCP socket of file, whose inode
// is ino.
static __always_inline void tls_note_socket(struct file *file, __u64 ino)
{
	if (!mcps_tls_on)
		return;
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct mcps_tls_call *c = bpf_map_lookup_elem(&mcps_tls_calls, &tid);
	if (!c)
		return;
	struct mcps_tls_key k = {.ssl = c->ssl, .tgid = id >> 32};
	struct socket *sock = BPF_CORE_READ(file, private_data);
	struct mcps_tls_sock v = {.ino = ino, .sk = (__u64)BPF_CORE_READ(sock, sk)};
	bpf_map_update_elem(&mcps_tls_socks, &k, &v, BPF_ANY);
}
