// SPDX-License-Identifier: GPL-2.0-only
//
// Process lifecycle: children join the traced set at fork (in the kernel, so their first syscalls are never missed),
// --comm matches at exec (and, with TLS on, the exec is reported), and the exit of a process that took part in MCP
// streams is reported so user space can flush and free its state.
//
// Hooks: tp_btf/sched_process_fork and tp_btf/sched_process_exec (BTF-typed raw tracepoints, 5.5+),
// tracepoint/sched/sched_process_exit. They fire per fork, exec and thread exit, far less often than syscalls; each
// leaves after one map lookup when nothing is traced.
#include "mcps.h"

SEC("tp_btf/sched_process_fork")
int BPF_PROG(mcps_fork, struct task_struct *parent, struct task_struct *child)
{
	if (!mcps_filter_on)
		return 0;
	__u32 ptgid = BPF_CORE_READ(parent, tgid), ctgid = BPF_CORE_READ(child, tgid);
	if (ptgid == ctgid) // a new thread, not a new process
		return 0;
	if (!bpf_map_lookup_elem(&mcps_traced, &ptgid))
		return 0;
	__u8 one = 1;
	bpf_map_update_elem(&mcps_traced, &ctgid, &one, BPF_ANY);
	return 0;
}

// At exec: --comm matching, and with TLS on a record that makes user space look at the new program right away (a Go
// program has its own crypto/tls to probe) instead of at its next rescan, which a short-lived client would not live to.
SEC("tp_btf/sched_process_exec")
int BPF_PROG(mcps_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	if (!mcps_filter_on && !mcps_tls_on)
		return 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (mcps_filter_on && !bpf_map_lookup_elem(&mcps_traced, &tgid)) {
		char comm[16] = {};
		bpf_get_current_comm(comm, sizeof(comm));
		if (!bpf_map_lookup_elem(&mcps_traced_comms, comm))
			return 0;
		__u8 one = 1;
		bpf_map_update_elem(&mcps_traced, &tgid, &one, BPF_ANY);
	}
	if (mcps_tls_on && tgid != mcps_self_tgid) {
		struct mcps_event_hdr h;
		fill_hdr(&h, MCPS_EV_EXEC, NULL);
		emit_small(&h);
	}
	return 0;
}

// Per-thread state must not outlive its thread: a thread killed inside a write never reaches sys_exit.
SEC("tracepoint/sched/sched_process_exit")
int mcps_exit(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	struct mcps_write_args *a = bpf_map_lookup_elem(&mcps_write_args, &tid);
	if (a) {
		writing_done(&a->key, a->gen, NULL); // killed inside a write
		bpf_map_delete_elem(&mcps_write_args, &tid);
	}
	early_drop(tid);
	if (mcps_tls_on) {
		bpf_map_delete_elem(&mcps_tls_calls, &tid);
		bpf_map_delete_elem(&mcps_tls_pending, &tid);
	}
	// The process ends with its last thread, whichever that is: not with its group leader. A multi-threaded process
	// that execs from another thread (Go does, from any thread) loses its old leader in de_thread, and that exit
	// carries tid == tgid while the process lives on under the same tgid; taking it for the process's end dropped
	// the process from mcps_traced (a whole `watch -- CMD` session went unseen). signal->live already counts this
	// thread out when the tracepoint fires.
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	if (mcps_filter_on)
		bpf_map_delete_elem(&mcps_traced, &tgid);
	if (bpf_map_delete_elem(&mcps_participants, &tgid))
		return 0;
	struct mcps_event_hdr h;
	fill_hdr(&h, MCPS_EV_EXIT, NULL);
	h.offset = BPF_CORE_READ(task, exit_code);
	emit_small(&h);
	return 0;
}
