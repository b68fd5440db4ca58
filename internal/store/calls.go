package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// CallSummary is one row of the call_footprints view: a call and the size of its footprint.
type CallSummary struct {
	ID          int64
	StartedAt   string
	Session     string
	ServerPid   int64
	ServerComm  string
	Method      string
	Name        string
	Status      string
	DurationMs  *float64
	UserCPUMs   *float64
	SysCPUMs    *float64
	Syscalls    int64
	Files       int64
	Programs    int64
	Connections int64
	Libraries   int64
	GPU         int64
	ServerAddr  string // HTTP: the server's address and port; empty otherwise
}

// FootprintRows is the number of footprint rows of the call (syscalls counted as calls made).
func (c *CallSummary) FootprintRows() int64 {
	return c.Syscalls + c.Files + c.Programs + c.Connections + c.Libraries + c.GPU
}

// RecentCalls returns the last limit calls, newest first.
func (d *DB) RecentCalls(ctx context.Context, limit int) ([]CallSummary, error) {
	rows, err := d.conn.QueryContext(ctx, `SELECT call_id, started_at, session, server_pid, server_comm, method, name, status,
  duration_ms, user_cpu_ms, sys_cpu_ms, syscalls, files, programs, connections, libraries, gpu, `+d.ifHTTP("coalesce(server_addr, '')", "''")+`
FROM call_footprints ORDER BY started_at DESC, call_id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("read the calls: %w", Explain(err))
	}
	defer rows.Close()
	var out []CallSummary
	for rows.Next() {
		var c CallSummary
		var name sql.NullString
		if err := rows.Scan(&c.ID, &c.StartedAt, &c.Session, &c.ServerPid, &c.ServerComm, &c.Method, &name, &c.Status,
			&c.DurationMs, &c.UserCPUMs, &c.SysCPUMs, &c.Syscalls, &c.Files, &c.Programs, &c.Connections, &c.Libraries, &c.GPU, &c.ServerAddr); err != nil {
			return nil, fmt.Errorf("read the calls: %w", Explain(err))
		}
		c.Name = name.String
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the calls: %w", Explain(err))
	}
	return out, nil
}

// StoredMessage is a message of a call as stored.
type StoredMessage struct {
	ID        int64
	Time      string
	Type      string
	Method    string
	RPCID     string
	Size      int64
	Late      bool
	Message   string // JSON text; empty when not recorded
	Transport string
	HTTP      MessageHTTP // zero on stdio
}

// MessageHTTP is the HTTP context of a stored message (the http_ and _addr columns of messages); empty strings
// and 0 where NULL.
type MessageHTTP struct {
	Method      string
	Path        string
	Status      int64 // of the response that carried the message; 0 on requests
	ContentType string
	SessionID   string // as stored: redacted unless --no-redact
	FromAddr    string
	ToAddr      string
}

// CallDetail is everything recorded about one call.
type CallDetail struct {
	Summary        CallSummary
	Tool           string
	Resource       string
	Prompt         string
	RPCID          string
	ClientPid      int64
	ClientComm     string
	ClientAddr     string // HTTP: the client's address and port; empty otherwise
	Arguments      string // JSON text; empty when absent
	EndedAt        string
	IsError        *bool
	ErrorCode      *int64
	ErrorMessage   string
	Cancelled      bool
	Request        *StoredMessage
	Response       *StoredMessage
	Notifications  []StoredMessage // progress and cancel notifications tied to the call, in order
	Syscalls       []Syscall
	Files          []File
	Execs          []Exec
	Connections    []Connection
	Libraries      []Library
	GPU            []GPUUse
	FootprintShare bool // some rows are shared with overlapping calls
}

// ErrNoCall is returned by Call for an id that is not in the database.
var ErrNoCall = errors.New("no such call")

// Call returns the call with the given id, its messages and its footprint.
func (d *DB) Call(ctx context.Context, id int64) (*CallDetail, error) {
	var c CallDetail
	var name, tool, resource, prompt, args, ended, errMsg sql.NullString
	var isErr sql.NullBool
	var reqID, respID sql.NullInt64
	err := d.conn.QueryRowContext(ctx, `SELECT f.call_id, f.started_at, f.session, f.server_pid, f.server_comm, f.method, f.name, f.status,
  f.duration_ms, f.user_cpu_ms, f.sys_cpu_ms, f.syscalls, f.files, f.programs, f.connections, f.libraries, f.gpu,
  c.tool, c.resource, c.prompt, c.rpc_id, c.client_pid, c.client_comm, c.arguments, c.ended_at, c.is_error, c.error_code,
  c.error_message, c.cancelled, c.request_message_id, c.response_message_id,
  `+d.ifHTTP("coalesce(c.client_addr, ''), coalesce(c.server_addr, '')", "'', ''")+`
FROM call_footprints f JOIN tool_calls c ON c.id = f.call_id WHERE f.call_id = ?`, id).Scan(
		&c.Summary.ID, &c.Summary.StartedAt, &c.Summary.Session, &c.Summary.ServerPid, &c.Summary.ServerComm, &c.Summary.Method,
		&name, &c.Summary.Status, &c.Summary.DurationMs, &c.Summary.UserCPUMs, &c.Summary.SysCPUMs, &c.Summary.Syscalls,
		&c.Summary.Files, &c.Summary.Programs, &c.Summary.Connections, &c.Summary.Libraries, &c.Summary.GPU,
		&tool, &resource, &prompt, &c.RPCID, &c.ClientPid, &c.ClientComm, &args, &ended, &isErr, &c.ErrorCode,
		&errMsg, &c.Cancelled, &reqID, &respID, &c.ClientAddr, &c.Summary.ServerAddr)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("call %d: %w in %s (`mcpscope calls` lists them)", id, ErrNoCall, d.path)
	}
	if err != nil {
		return nil, fmt.Errorf("read call %d: %w", id, Explain(err))
	}
	c.Summary.Name, c.Tool, c.Resource, c.Prompt = name.String, tool.String, resource.String, prompt.String
	c.Arguments, c.EndedAt, c.ErrorMessage = args.String, ended.String, errMsg.String
	if isErr.Valid {
		c.IsError = &isErr.Bool
	}
	msgs, err := d.callMessages(ctx, id)
	if err != nil {
		return nil, err
	}
	for i := range msgs {
		m := &msgs[i]
		switch {
		case reqID.Valid && m.ID == reqID.Int64:
			c.Request = m
		case respID.Valid && m.ID == respID.Int64:
			c.Response = m
		case m.Type == "notification":
			c.Notifications = append(c.Notifications, *m)
		}
	}
	if err := d.footprint(ctx, id, &c); err != nil {
		return nil, fmt.Errorf("read the footprint of call %d: %w", id, Explain(err))
	}
	return &c, nil
}

func (d *DB) callMessages(ctx context.Context, id int64) ([]StoredMessage, error) {
	rows, err := d.conn.QueryContext(ctx, `SELECT id, ts, type, coalesce(method, ''), coalesce(rpc_id, ''), size, late, coalesce(message, ''),
  transport, `+d.ifHTTP(`coalesce(http_method, ''), coalesce(http_path, ''), coalesce(http_status, 0), coalesce(http_content_type, ''),
  coalesce(http_session_id, ''), coalesce(from_addr, ''), coalesce(to_addr, '')`, "'', '', 0, '', '', '', ''")+`
FROM messages WHERE call_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("read the messages of call %d: %w", id, Explain(err))
	}
	defer rows.Close()
	var out []StoredMessage
	for rows.Next() {
		var m StoredMessage
		h := &m.HTTP
		if err := rows.Scan(&m.ID, &m.Time, &m.Type, &m.Method, &m.RPCID, &m.Size, &m.Late, &m.Message,
			&m.Transport, &h.Method, &h.Path, &h.Status, &h.ContentType, &h.SessionID, &h.FromAddr, &h.ToAddr); err != nil {
			return nil, fmt.Errorf("read the messages of call %d: %w", id, Explain(err))
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// ifHTTP returns columns, SQL that reads the HTTP columns, on a database that has them, and otherwise
// placeholders: the same number of constant columns, so that one Scan reads both.
func (d *DB) ifHTTP(columns, placeholders string) string {
	if d.hasHTTP() {
		return columns
	}
	return placeholders
}

// footprint reads the footprint tables of call id into c.
func (d *DB) footprint(ctx context.Context, id int64, c *CallDetail) error {
	each := func(query string, scan func(*sql.Rows) error) error {
		rows, err := d.conn.QueryContext(ctx, query, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	shared := func(b bool) { c.FootprintShare = c.FootprintShare || b }
	err := each(`SELECT pid, shared, name, count, errors, errnos, total_ns FROM syscalls WHERE call_id = ? ORDER BY count DESC, name`, func(r *sql.Rows) error {
		var s Syscall
		var errnos sql.NullString
		if err := r.Scan(&s.Pid, &s.Shared, &s.Name, &s.Count, &s.Errors, &errnos, &s.TotalNs); err != nil {
			return err
		}
		if errnos.Valid {
			if err := json.Unmarshal([]byte(errnos.String), &s.Errnos); err != nil {
				return fmt.Errorf("syscalls.errnos: %w", err)
			}
		}
		shared(s.Shared)
		c.Syscalls = append(c.Syscalls, s)
		return nil
	})
	if err != nil {
		return err
	}
	err = each(`SELECT pid, shared, path, coalesce(flags, ''), result, count FROM files WHERE call_id = ? ORDER BY id`, func(r *sql.Rows) error {
		var f File
		if err := r.Scan(&f.Pid, &f.Shared, &f.Path, &f.Flags, &f.Result, &f.Count); err != nil {
			return err
		}
		shared(f.Shared)
		c.Files = append(c.Files, f)
		return nil
	})
	if err != nil {
		return err
	}
	err = each(`SELECT pid, shared, coalesce(ppid, 0), filename, argv, exit_code, started_at, duration_ms FROM execs WHERE call_id = ? ORDER BY id`, func(r *sql.Rows) error {
		var e Exec
		var argv, started sql.NullString
		var code sql.NullInt64
		if err := r.Scan(&e.Pid, &e.Shared, &e.Ppid, &e.Filename, &argv, &code, &started, &e.DurationMs); err != nil {
			return err
		}
		if argv.Valid {
			if err := json.Unmarshal([]byte(argv.String), &e.Argv); err != nil {
				return fmt.Errorf("execs.argv: %w", err)
			}
		}
		if code.Valid {
			v := int(code.Int64)
			e.ExitCode = &v
		}
		if started.Valid {
			t, err := time.Parse(time.RFC3339Nano, started.String)
			if err != nil {
				return fmt.Errorf("execs.started_at: %w", err)
			}
			e.StartedAt = t
		}
		shared(e.Shared)
		c.Execs = append(c.Execs, e)
		return nil
	})
	if err != nil {
		return err
	}
	err = each(`SELECT pid, shared, op, family, coalesce(remote_addr, ''), remote_port, result, count FROM connections WHERE call_id = ? ORDER BY id`, func(r *sql.Rows) error {
		var n Connection
		var port sql.NullInt64
		if err := r.Scan(&n.Pid, &n.Shared, &n.Op, &n.Family, &n.RemoteAddr, &port, &n.Result, &n.Count); err != nil {
			return err
		}
		if port.Valid {
			v := int(port.Int64)
			n.RemotePort = &v
		}
		shared(n.Shared)
		c.Connections = append(c.Connections, n)
		return nil
	})
	if err != nil {
		return err
	}
	err = each(`SELECT pid, shared, path, kind FROM libraries WHERE call_id = ? ORDER BY id`, func(r *sql.Rows) error {
		var l Library
		if err := r.Scan(&l.Pid, &l.Shared, &l.Path, &l.Kind); err != nil {
			return err
		}
		shared(l.Shared)
		c.Libraries = append(c.Libraries, l)
		return nil
	})
	if err != nil {
		return err
	}
	return each(`SELECT pid, shared, kind, detail, count FROM gpu WHERE call_id = ? ORDER BY id`, func(r *sql.Rows) error {
		var g GPUUse
		if err := r.Scan(&g.Pid, &g.Shared, &g.Kind, &g.Detail, &g.Count); err != nil {
			return err
		}
		shared(g.Shared)
		c.GPU = append(c.GPU, g)
		return nil
	})
}
