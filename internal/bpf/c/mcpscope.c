// SPDX-License-Identifier: GPL-2.0-only
//
// mcpscope's kernel programs, built as one object so that they share their maps. Each included file documents its
// hooks, their cost and their limits.
#include "stdio.c"
#include "stdio_fentry.c"
#include "process.c"
#include "tls.c"
#include "footprint.c"

// Referenced so that bpf2go generates Go types and constants for them.
const struct mcps_event_hdr *mcps_unused_hdr __attribute__((unused));
const enum mcps_event_kind *mcps_unused_event_kind __attribute__((unused));
const enum mcps_stream_kind *mcps_unused_stream_kind __attribute__((unused));
const enum mcps_stream_state *mcps_unused_stream_state __attribute__((unused));
const enum mcps_stat *mcps_unused_stat __attribute__((unused));
const struct mcps_tcp_conn *mcps_unused_tcp_conn __attribute__((unused));
const struct mcps_fp_rec *mcps_unused_fp_rec __attribute__((unused));
const enum mcps_fp_mark_dir *mcps_unused_fp_mark_dir __attribute__((unused));
const enum mcps_fp_nr_space *mcps_unused_fp_nr_space __attribute__((unused));

char LICENSE[] SEC("license") = "GPL";
