// Package jsonl writes records as JSON Lines: one JSON object per line, in the schema documented in docs/jsonl.md
// (schema version [record.SchemaVersion]).
//
// Each line is the JSON encoding of a [record.Message], [record.HTTP] or [record.Stats] as its struct tags
// describe, in field order, with these deliberate differences from what encoding/json would produce:
//
//   - "message" is embedded verbatim: key order, whitespace, escapes and non-ASCII bytes exactly as the MCP peer
//     wrote them. encoding/json would compact it (dropping the spaces after colons) and, by default, rewrite <, >
//     and & as \u003c, \u003e, \u0026. The one exception is a CR or LF byte, which in valid JSON can only be
//     insignificant whitespace: each is replaced by a space so the record stays on one line; the length, and so
//     every offset, is unchanged. (stdio messages never contain one; pretty-printed HTTP bodies may.)
//   - "ts" is always UTC with exactly nine fractional digits, 2026-11-22T07:18:12.123456789Z, so that lines sort
//     and compare as strings; encoding/json drops trailing zeros.
//   - no HTML escaping anywhere (as with Encoder.SetEscapeHTML(false));
//   - "counters" is {} rather than null when the map is nil, and an empty Kind is written as "message", "http" or
//     "stats".
//
// Strings other than "message" are escaped as encoding/json escapes them (control characters, invalid UTF-8 as
// U+FFFD, U+2028 and U+2029); so is the "response_body" of an HTTP record, which is text, not embedded JSON. The
// other raw JSON fields (id, progress_token, related_id, retry_of) are validated and compacted, as encoding/json
// does.
//
// A record that cannot be encoded (a raw JSON field that is not valid JSON, a non-finite latency, a year outside
// 0000–9999) is refused with an error and nothing of it is written, so the stream stays valid JSONL: one bad
// line would stop a consumer such as jq. "message" is checked with a validator that accepts exactly what
// json.Valid accepts, at 0.7 GB/s on dense JSON and 3.9 GB/s on long strings such as base64 images (json.Valid:
// 0.27 and 0.37 GB/s), so a 16 MiB message costs 4–25 ms.
//
// # Buffering
//
// A [Writer] buffers 64 KiB and writes through when the buffer fills, so a flood costs one write(2) per 64 KiB,
// not per record; messages larger than the buffer are written directly from the record without a copy. Records
// become visible to tail -f or a pipe reader when the pipeline calls [Writer.Flush], which it does after each
// batch (see package output), or at [Writer.Close].
package jsonl
