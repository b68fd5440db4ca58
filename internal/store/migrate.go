package store

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations[v] brings a database from schema version v to v+1; len(migrations) == SchemaVersion. Version 0 is
// an empty (new) database. A change to the schema appends a step here (ALTER TABLE ... ADD COLUMN, CREATE TABLE,
// DROP VIEW + CREATE VIEW, ...), bumps SchemaVersion, and edits the schema table to match what the steps produce;
// TestDatabaseMatchesSchema checks a database against the schema table.
var migrations = []func(ctx context.Context, tx *sql.Tx) error{
	createV1,
}

func createV1(ctx context.Context, tx *sql.Tx) error {
	for _, stmt := range ddl() {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%w\n%s", err, stmt)
		}
	}
	return nil
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
	for v := version; v < SchemaVersion; v++ {
		if err := migrations[v](ctx, tx); err != nil {
			return fmt.Errorf("database %s: upgrade the schema from version %d: %w", s.path, v, err)
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
