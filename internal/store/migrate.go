package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
)

// migrations[v-1] brings a database from schema version v to v+1, for v ≥ 1; len(migrations) == SchemaVersion-1.
// An empty (new) database, version 0, gets the current schema at once from the schema table (create): replaying
// every step would only reach the same place slower.
//
// A change to the schema appends a step here (ALTER TABLE ... ADD COLUMN, CREATE TABLE, DROP VIEW + CREATE VIEW,
// ...), bumps SchemaVersion, and edits the schema table to match what the steps produce. ALTER TABLE appends
// columns, so a new column goes at the end of its table in the schema table too, or new and upgraded databases
// would differ. TestDatabaseMatchesSchema checks a new database against the schema table, and TestMigrateV1 an
// upgraded one.
var migrations = []func(ctx context.Context, tx *sql.Tx) error{
	v1ToV2,
	v2ToV3,
}

// create makes the current schema in an empty database.
func create(ctx context.Context, tx *sql.Tx) error {
	return execAll(ctx, tx, ddl())
}

// v1ToV2 adds the HTTP transports: the addresses of peers (sessions, tool_calls, messages), the HTTP context of
// messages, the http_exchanges table, the server's address in call_footprints, and the http_errors view. The
// definitions come from the schema table, where they were added in version 2 (a later version that changes one
// of them must give the version-2 form here, as withoutColumns does for http_exchanges); every new column is nullable without a default, so ADD
// COLUMN only changes the table's definition, not its rows, and costs the same on a database of any size.
func v1ToV2(ctx context.Context, tx *sql.Tx) error {
	added := []struct{ table, column string }{
		{"sessions", "client_addr"}, {"sessions", "server_addr"},
		{"tool_calls", "client_addr"}, {"tool_calls", "server_addr"},
		{"messages", "from_addr"}, {"messages", "to_addr"},
		{"messages", "http_proto"}, {"messages", "http_method"}, {"messages", "http_path"}, {"messages", "http_host"},
		{"messages", "http_status"}, {"messages", "http_content_type"}, {"messages", "http_session_id"},
		{"messages", "http_protocol_version"}, {"messages", "http_mcp_method"}, {"messages", "http_mcp_name"},
		{"messages", "http_sse_event_id"}, {"messages", "http_stream_id"},
	}
	var stmts []string
	for _, a := range added {
		stmts = append(stmts, fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s", a.table, columnSQL(mustColumn(a.table, a.column))))
	}
	stmts = append(stmts, createSQL(withoutColumns(mustTable("http_exchanges"), "began_before_capture"))...)
	stmts = append(stmts, "DROP VIEW call_footprints")
	stmts = append(stmts, createSQL(mustTable("call_footprints"))...)
	stmts = append(stmts, createSQL(mustTable("http_errors"))...)
	return execAll(ctx, tx, stmts)
}

// v2ToV3 adds http_exchanges.began_before_capture. A constant default makes ADD COLUMN a change of the table's
// definition only, whatever the database's size.
func v2ToV3(ctx context.Context, tx *sql.Tx) error {
	return execAll(ctx, tx, []string{
		"ALTER TABLE http_exchanges ADD COLUMN " + columnSQL(mustColumn("http_exchanges", "began_before_capture")),
	})
}

// withoutColumns returns a copy of t without the named columns: a table as an earlier version created it, before
// later steps added those columns.
func withoutColumns(t *Table, later ...string) *Table {
	old := *t
	old.Columns = slices.DeleteFunc(slices.Clone(t.Columns), func(c Column) bool { return slices.Contains(later, c.Name) })
	return &old
}

func execAll(ctx context.Context, tx *sql.Tx, stmts []string) error {
	for _, stmt := range stmts {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%w\n%s", err, stmt)
		}
	}
	return nil
}

func mustColumn(table, column string) Column {
	for _, c := range mustTable(table).Columns {
		if c.Name == column {
			return c
		}
	}
	panic("store: no column " + table + "." + column)
}

// migrate brings the database to SchemaVersion and refreshes schema_tables and schema_columns.
func (s *Store) migrate(ctx context.Context) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("open the database %s: %w%s", s.path, err, notADB(err))
	}
	defer conn.Close()
	var version int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("open the database %s: %w%s", s.path, err, notADB(err))
	}
	if version > SchemaVersion {
		return fmt.Errorf("database %s has schema version %d, newer than this mcpscope's (%d): use a newer mcpscope, or another --db", s.path, version, SchemaVersion)
	}
	if version == 0 {
		// Settings of the file itself, which only take effect before the first table exists.
		for _, p := range []string{"PRAGMA auto_vacuum = INCREMENTAL", "PRAGMA journal_mode = WAL"} {
			if _, err := conn.ExecContext(ctx, p); err != nil {
				return fmt.Errorf("set up the database %s: %s: %w", s.path, p, err)
			}
		}
	}
	var mode string
	if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil || mode != "wal" {
		return fmt.Errorf("database %s: cannot use write-ahead logging (journal mode %q): %v", s.path, mode, err)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("database %s: %w", s.path, err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it does nothing
	if version == 0 {
		if err := create(ctx, tx); err != nil {
			return fmt.Errorf("database %s: create the schema: %w", s.path, err)
		}
	} else {
		for v := version; v < SchemaVersion; v++ {
			if err := migrations[v-1](ctx, tx); err != nil {
				return fmt.Errorf("database %s: upgrade the schema from version %d: %w", s.path, v, err)
			}
		}
	}
	if err := describe(ctx, tx); err != nil {
		return fmt.Errorf("database %s: %w", s.path, err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", SchemaVersion)); err != nil {
		return fmt.Errorf("database %s: %w", s.path, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("database %s: set up the schema: %w", s.path, err)
	}
	return nil
}

// describe fills schema_tables and schema_columns from the schema.
func describe(ctx context.Context, tx *sql.Tx) error {
	for _, q := range []string{"DELETE FROM schema_columns", "DELETE FROM schema_tables"} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("describe the schema: %w", err)
		}
	}
	for _, t := range schema {
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_tables(name, kind, description) VALUES(?, ?, ?)", t.Name, t.Kind(), t.Doc); err != nil {
			return fmt.Errorf("describe the schema: %w", err)
		}
		for i, c := range t.Columns {
			if _, err := tx.ExecContext(ctx, "INSERT INTO schema_columns(table_name, position, name, type, description) VALUES(?, ?, ?, ?, ?)",
				t.Name, i, c.Name, c.Type, c.Doc); err != nil {
				return fmt.Errorf("describe the schema: %w", err)
			}
		}
	}
	return nil
}
