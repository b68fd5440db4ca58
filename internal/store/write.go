package store

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strings"
	"time"
	"unsafe"

	"github.com/mcpscope/mcpscope/internal/record"
)

// TimeFormat is how times are stored: RFC 3339 in UTC with exactly nine fractional digits, as in JSONL, so that
// they sort and compare as text and SQLite's date functions (julianday, unixepoch) read them.
const TimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// txWriter writes rows within one transaction, through the driver itself rather than database/sql: database/sql
// would convert every argument into a fresh slice on each statement (a quarter of the monitor's allocations under a
// stream of pings: docs/benchmarks.md), and a statement prepared in a transaction dies with it, so every commit
// parsed its statements again.
type txWriter struct {
	ctx context.Context
	*writerConn
	skipped uint64
}

// writerConn is what the writer goroutine keeps from one transaction to the next: the driver connection, the
// statements prepared on it (for as long as it lives), and the argument slices it reuses.
type writerConn struct {
	conn   any // the driver connection, to tell when database/sql replaced it
	stmts  map[string]driver.Stmt
	args   []any               // a multi-row statement's values
	values []driver.NamedValue // what the driver binds
}

// on returns wc for the driver connection dc, forgetting the statements of an earlier connection: database/sql
// replaces a connection only after it failed, and it closed that one with its statements.
func (wc *writerConn) on(dc any) *writerConn {
	if wc.conn != dc {
		wc.conn, wc.stmts = dc, map[string]driver.Stmt{}
	}
	return wc
}

// close finalizes every statement; the connection then closes cleanly.
func (wc *writerConn) close() error {
	var errs []error
	for q, st := range wc.stmts {
		if err := st.Close(); err != nil {
			errs = append(errs, fmt.Errorf("finalize %.40q: %w", q, err))
		}
	}
	wc.conn, wc.stmts = nil, nil
	return errors.Join(errs...)
}

// exec runs a statement, preparing it on first use. The statement itself runs under a context that cannot be
// cancelled: with a cancellable one the driver starts a goroutine per statement to watch it, which costs more than
// the insert. The transaction's context is checked between statements instead, so a cancelled Close still stops a
// long batch.
func (w *txWriter) exec(query string, args ...any) (driver.Result, error) {
	if err := w.ctx.Err(); err != nil {
		return nil, err
	}
	st := w.stmts[query]
	if st == nil {
		prep, ok := w.conn.(driver.ConnPrepareContext)
		if !ok {
			return nil, fmt.Errorf("the SQLite driver's connection (%T) cannot prepare statements", w.conn)
		}
		var err error
		if st, err = prep.PrepareContext(context.WithoutCancel(w.ctx), query); err != nil {
			return nil, fmt.Errorf("prepare %.40q: %w", query, err)
		}
		w.stmts[query] = st
	}
	ex, ok := st.(driver.StmtExecContext)
	if !ok {
		return nil, fmt.Errorf("the SQLite driver's statement (%T) cannot run with a context", st)
	}
	values := w.values[:0]
	for i, a := range args {
		v, err := driverValue(a)
		if err != nil {
			return nil, fmt.Errorf("argument %d of %.40q: %w", i+1, query, err)
		}
		values = append(values, driver.NamedValue{Ordinal: i + 1, Value: v})
	}
	res, err := ex.ExecContext(context.WithoutCancel(w.ctx), values)
	clear(values) // do not keep the message text alive
	w.values = values
	return res, err
}

// driverValue converts a Go value into one the driver binds, as database/sql would: ints become int64 here without
// the reflection database/sql's converter uses for them, and anything else goes through that converter.
func driverValue(a any) (driver.Value, error) {
	switch v := a.(type) {
	case nil, int64, string, float64, bool, []byte, time.Time:
		return v, nil
	case int:
		return int64(v), nil
	case uint64:
		if v > math.MaxInt64 {
			return nil, fmt.Errorf("%d does not fit in SQLite's 64-bit signed integer", v)
		}
		return int64(v), nil
	}
	return driver.DefaultParameterConverter.ConvertValue(a)
}

// upsertSQL returns an INSERT of every column of table that updates the row with the same id if there is one.
// keep names columns an update must not clear when the new value is NULL.
func upsertSQL(table string, keep ...string) string {
	t := mustTable(table)
	var names, marks, sets []string
	for _, c := range t.Columns {
		names = append(names, c.Name)
		marks = append(marks, "?")
		if c.Name == "id" {
			continue
		}
		set := fmt.Sprintf("%s = excluded.%s", c.Name, c.Name)
		for _, k := range keep {
			if k == c.Name {
				set = fmt.Sprintf("%s = coalesce(excluded.%s, %s)", c.Name, c.Name, c.Name)
			}
		}
		sets = append(sets, set)
	}
	return fmt.Sprintf("INSERT INTO %s(%s) VALUES(%s) ON CONFLICT(id) DO UPDATE SET %s",
		table, strings.Join(names, ", "), strings.Join(marks, ", "), strings.Join(sets, ", "))
}

// insertSQL returns an INSERT of n rows of every column of table.
func insertSQL(table string, n int) string {
	t := mustTable(table)
	var names, marks []string
	for _, c := range t.Columns {
		names = append(names, c.Name)
		marks = append(marks, "?")
	}
	row := "(" + strings.Join(marks, ", ") + ")"
	return fmt.Sprintf("INSERT INTO %s(%s) VALUES%s", table, strings.Join(names, ", "), strings.Repeat(row+", ", n-1)+row)
}

// messagesPerInsert is how many messages (or HTTP exchanges) one INSERT statement writes at most. A statement per
// row spends more in the driver and statement setup than SQLite spends inserting; 32 rows per statement writes about
// twice as fast (docs/benchmarks.md), and 32 × 48 parameters stays far below SQLite's limit of 32766.
const messagesPerInsert = 32

// rowsPerInsert returns how many of n rows the next INSERT writes: a power of two, so that the writer keeps six
// statements prepared per table (1 to 32 rows) rather than 32, each holding its compiled program in SQLite's memory.
func rowsPerInsert(n int) int {
	return 1 << (bits.Len(uint(min(n, messagesPerInsert))) - 1)
}

// multiInsert returns insertSQL(table, n) at index n, for each n that rowsPerInsert returns.
func multiInsert(table string) (q [messagesPerInsert + 1]string) {
	for n := 1; n <= messagesPerInsert; n *= 2 {
		q[n] = insertSQL(table, n)
	}
	return q
}

// insertMessages[n] inserts n messages, insertExchanges[n] n HTTP exchanges.
var (
	insertMessages  = multiInsert("messages")
	insertExchanges = multiInsert("http_exchanges")
)

// footprintSQL returns an INSERT of every column of a footprint table but id that inserts nothing when the call
// does not exist (any more): a footprint must never fail its whole batch for a call that was pruned.
func footprintSQL(table string) string {
	t := mustTable(table)
	var names, marks []string
	for _, c := range t.Columns[1:] {
		names = append(names, c.Name)
		marks = append(marks, "?")
	}
	return fmt.Sprintf("INSERT INTO %s(%s) SELECT %s WHERE EXISTS (SELECT 1 FROM tool_calls WHERE id = ?1)",
		table, strings.Join(names, ", "), strings.Join(marks, ", "))
}

func mustTable(name string) *Table {
	for i := range schema {
		if schema[i].Name == name {
			return &schema[i]
		}
	}
	panic("store: no table " + name)
}

// The statements, built once from the schema so that their column lists cannot drift from it. Each args function
// below lists values in the schema's column order.
var (
	insertCapture    = upsertSQL("captures")
	insertProcess    = upsertSQL("processes")
	insertSession    = upsertSQL("sessions")
	insertCall       = upsertSQL("tool_calls", "user_cpu_ms", "sys_cpu_ms")
	insertSyscall    = footprintSQL("syscalls")
	insertFile       = footprintSQL("files")
	insertExec       = footprintSQL("execs")
	insertConnection = footprintSQL("connections")
	insertLibrary    = footprintSQL("libraries")
	insertGPU        = footprintSQL("gpu")
	updateCallCPU    = "UPDATE tool_calls SET user_cpu_ms = coalesce(?, user_cpu_ms), sys_cpu_ms = coalesce(?, sys_cpu_ms) WHERE id = ?"
)

func (w *txWriter) batch(b *Batch) error {
	for _, c := range b.Captures {
		var counters any
		if c.Counters != nil {
			j, err := json.Marshal(c.Counters)
			if err != nil {
				return fmt.Errorf("encode counters: %w", err)
			}
			counters = string(j)
		}
		if _, err := w.exec(insertCapture, c.ID, ts(c.StartedAt), nullTime(c.EndedAt), c.Version, c.Hostname, c.Pid, counters, c.RowsDropped); err != nil {
			return fmt.Errorf("write a capture: %w", err)
		}
	}
	for _, p := range b.Processes {
		if _, err := w.exec(insertProcess, p.ID, p.CaptureID, p.Pid, p.Comm, ts(p.FirstSeen), ts(p.LastSeen)); err != nil {
			return fmt.Errorf("write a process: %w", err)
		}
	}
	for _, s := range b.Sessions {
		if _, err := w.exec(insertSession, s.ID, s.CaptureID, s.Name, s.Transport,
			nullInt(s.Client.Pid), nullPidStr(s.Client.Pid, s.Client.Comm), nullInt(s.Server.Pid), nullPidStr(s.Server.Pid, s.Server.Comm),
			nullStr(s.Era), nullStr(s.ProtocolVersion), ts(s.FirstSeen), ts(s.LastSeen), s.Messages,
			nullStr(s.Client.Addr), nullStr(s.Server.Addr)); err != nil {
			return fmt.Errorf("write a session: %w", err)
		}
	}
	for i := range b.Calls {
		c := &b.Calls[i]
		var code, msg any
		if c.Error != nil {
			code, msg = c.Error.Code, c.Error.Message
		}
		if _, err := w.exec(insertCall, c.ID, c.SessionID, c.Method, nullStr(c.Tool), nullStr(c.Resource), nullStr(c.Prompt), c.RPCID,
			c.Client.Pid, c.Client.Comm, c.Server.Pid, c.Server.Comm, nullText(c.Arguments),
			ts(c.StartedAt), nullTime(c.EndedAt), c.DurationMs, c.Status, nullBool(c.IsError), code, msg, c.Cancelled,
			nullInt64(c.RequestMessageID), nullInt64(c.ResponseMessageID), c.UserCPUMs, c.SysCPUMs,
			nullStr(c.Client.Addr), nullStr(c.Server.Addr)); err != nil {
			return fmt.Errorf("write a tool call: %w", err)
		}
	}
	// Messages and exchanges are never updated: a plain INSERT, of many rows at a time.
	for ms := b.Messages; len(ms) > 0; {
		n := rowsPerInsert(len(ms))
		args := w.args[:0]
		for i := range ms[:n] {
			args = appendMessage(args, &ms[i])
		}
		if _, err := w.exec(insertMessages[n], args...); err != nil {
			return fmt.Errorf("write messages: %w", err)
		}
		clear(args) // do not keep the message text alive
		w.args = args
		ms = ms[n:]
	}
	for es := b.Exchanges; len(es) > 0; {
		n := rowsPerInsert(len(es))
		args := w.args[:0]
		for i := range es[:n] {
			var err error
			if args, err = appendExchange(args, &es[i]); err != nil {
				return err
			}
		}
		if _, err := w.exec(insertExchanges[n], args...); err != nil {
			return fmt.Errorf("write HTTP exchanges: %w", err)
		}
		clear(args)
		w.args = args
		es = es[n:]
	}
	for i := range b.Footprints {
		if err := w.footprint(&b.Footprints[i]); err != nil {
			return err
		}
	}
	return nil
}

// appendMessage appends the values of a messages row, in the schema's column order.
func appendMessage(args []any, m *Message) []any {
	r := &m.Record
	var code, msg, bidx, bcount any
	if r.Error != nil {
		code, msg = r.Error.Code, r.Error.Message
	}
	if r.Batch != nil {
		bidx, bcount = r.Batch.Index, r.Batch.Count
	}
	args = append(args, m.ID, nullInt64(m.SessionID), nullInt64(m.CallID), ts(r.Time), r.Transport, nullStr(r.Direction), r.Type,
		nullText(r.ID), nullStr(r.Method), nullStr(r.MethodKind), nullStr(r.Tool), nullStr(r.Resource), nullStr(r.Prompt),
		r.From.Pid, r.From.Comm, r.To.Pid, r.To.Comm, r.Size, r.LatencyMs, nullBool(r.IsError), code, msg,
		nullStr(r.Era), nullStr(r.ProtocolVersion), nullStr(r.ResultType), nullText(r.ProgressToken), nullText(r.RelatedID),
		r.Late, nullText(r.RetryOf), bidx, bcount, r.Truncated, r.LostBytes, nullText(r.Message),
		nullStr(r.From.Addr), nullStr(r.To.Addr))
	h := r.HTTP
	if h == nil {
		h = &record.HTTPInfo{} // stdio: every http_ column NULL
	}
	return append(args, nullStr(h.Proto), nullStr(h.Method), nullStr(h.Path), nullStr(h.Host), nullInt(h.Status),
		nullStr(h.ContentType), nullStr(h.SessionID), nullStr(h.ProtocolVersion), nullStr(h.MCPMethod), nullStr(h.MCPName),
		nullStr(h.SSEEventID), nullInt64(int64(h.StreamID)))
}

// appendExchange appends the values of an http_exchanges row, in the schema's column order.
func appendExchange(args []any, e *HTTPExchange) ([]any, error) {
	r := &e.Record
	reqHeaders, err := headersJSON(r.RequestHeaders)
	if err != nil {
		return args, fmt.Errorf("encode request headers: %w", err)
	}
	respHeaders, err := headersJSON(r.ResponseHeaders)
	if err != nil {
		return args, fmt.Errorf("encode response headers: %w", err)
	}
	h := &r.HTTP
	return append(args, e.ID, nullInt64(e.SessionID), ts(r.Time), r.Transport, r.Event,
		r.From.Pid, r.From.Comm, nullStr(r.From.Addr), r.To.Pid, r.To.Comm, nullStr(r.To.Addr),
		nullStr(h.Proto), nullStr(h.Method), nullStr(h.Path), nullStr(h.Host), nullInt(h.Status), nullStr(h.ContentType),
		nullStr(h.SessionID), nullStr(h.ProtocolVersion), nullStr(h.MCPMethod), nullStr(h.MCPName), nullInt64(int64(h.StreamID)),
		r.LatencyMs, r.RequestSize, r.ResponseSize, reqHeaders, respHeaders, nullStr(r.ResponseBody), r.Truncated, r.LostBytes,
		r.BeganBeforeCapture), nil
}

// headersJSON stores header fields as the JSONL record writes them: an array of {"name","value"} objects; none is
// NULL.
func headersJSON(hs []record.HTTPHeader) (any, error) {
	if len(hs) == 0 {
		return nil, nil
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // as in JSONL: a value reads as sent, < and & included
	if err := enc.Encode(hs); err != nil {
		return nil, err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

func (w *txWriter) footprint(f *Footprint) error {
	if f.UserCPUMs != nil || f.SysCPUMs != nil {
		if _, err := w.exec(updateCallCPU, f.UserCPUMs, f.SysCPUMs, f.CallID); err != nil {
			return fmt.Errorf("write CPU time: %w", err)
		}
	}
	insert := func(q string, args ...any) error {
		res, err := w.exec(q, args...)
		if err != nil {
			return fmt.Errorf("write a footprint: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			w.skipped++
		}
		return nil
	}
	for _, r := range f.Syscalls {
		var errnos any
		if r.Errnos != nil {
			j, err := json.Marshal(r.Errnos)
			if err != nil {
				return fmt.Errorf("encode errnos: %w", err)
			}
			errnos = string(j)
		}
		if err := insert(insertSyscall, f.CallID, r.Pid, r.Shared, r.Name, r.Count, r.Errors, errnos, r.TotalNs); err != nil {
			return err
		}
	}
	for _, r := range f.Files {
		if err := insert(insertFile, f.CallID, r.Pid, r.Shared, r.Path, nullStr(r.Flags), r.Result, atLeastOne(r.Count)); err != nil {
			return err
		}
	}
	for _, r := range f.Execs {
		var argv any
		if r.Argv != nil {
			j, err := json.Marshal(r.Argv)
			if err != nil {
				return fmt.Errorf("encode argv: %w", err)
			}
			argv = string(j)
		}
		if err := insert(insertExec, f.CallID, r.Pid, r.Shared, nullInt(r.Ppid), r.Filename, argv, r.ExitCode, nullTime(r.StartedAt), r.DurationMs); err != nil {
			return err
		}
	}
	for _, r := range f.Connections {
		if err := insert(insertConnection, f.CallID, r.Pid, r.Shared, r.Op, r.Family, nullStr(r.RemoteAddr), r.RemotePort, r.Result, atLeastOne(r.Count)); err != nil {
			return err
		}
	}
	for _, r := range f.Libraries {
		if err := insert(insertLibrary, f.CallID, r.Pid, r.Shared, r.Path, r.Kind); err != nil {
			return err
		}
	}
	for _, r := range f.GPU {
		if err := insert(insertGPU, f.CallID, r.Pid, r.Shared, r.Kind, r.Detail, atLeastOne(r.Count)); err != nil {
			return err
		}
	}
	return nil
}

func ts(t time.Time) string { return t.UTC().Format(TimeFormat) }

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return ts(t)
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullText stores JSON text; nil or empty is NULL. It hands the driver a string that shares b's bytes: string(b)
// would copy a message once more only for the driver to copy it into SQLite's memory. That is safe because nothing
// writes to a batch's bytes while the Store holds it (Submit; package output says a message's text is never
// written to again), and the driver keeps no string past the statement.
func nullText(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return unsafe.String(&b[0], len(b))
}

func nullInt(i int) any {
	if i == 0 {
		return nil
	}
	return i
}

func nullInt64(i int64) any {
	if i == 0 {
		return nil
	}
	return i
}

// nullPidStr is a command name stored only when its pid is known.
func nullPidStr(pid int, s string) any {
	if pid == 0 {
		return nil
	}
	return s
}

func nullBool(b *bool) any {
	if b == nil {
		return nil
	}
	return *b
}

func atLeastOne(n uint64) uint64 { return max(n, 1) }
