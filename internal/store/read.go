package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// DB is a database opened read-only, for queries; it may be read while `watch` writes it.
//
// Read-only is enforced by SQLite, never by looking at the SQL: the file is opened with mode=ro (every write
// fails with SQLITE_READONLY, whatever the statement, and no file is ever created), PRAGMA query_only is set,
// ATTACH is disabled by limiting attached databases to 0 (so no other file can be opened, or created, for
// writing), defensive mode is on, and extensions cannot be loaded.
type DB struct {
	db   *sql.DB
	conn *sql.Conn
	path string
	// version is the database's schema version. A reader cannot upgrade a database, so the reading methods leave
	// out what an older version lacks (the HTTP columns before version 2).
	version int
}

// OpenReadOnly opens the database at path for reading.
func OpenReadOnly(ctx context.Context, path string) (*DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("database path %s: %w", path, err)
	}
	if _, err := os.Stat(abs); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no database at %s: `mcpscope watch` records there (or where --db says) once it has run", abs)
		}
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("open the database: %w (what `sudo mcpscope` records is readable by root only: use sudo, or --db)", err)
		}
		return nil, fmt.Errorf("open the database: %w", err)
	}
	db, err := sql.Open("sqlite", dsn(abs, "mode=ro&_pragma=busy_timeout(5000)&_pragma=query_only(1)&_defensive=1"))
	if err != nil {
		return nil, fmt.Errorf("open the database %s: %w", abs, err)
	}
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open the database %s: %w%s", abs, err, notADB(err))
	}
	d := &DB{db: db, conn: conn, path: abs}
	if _, err := sqlite.Limit(conn, sqlite3.SQLITE_LIMIT_ATTACHED, 0); err != nil {
		d.Close()
		return nil, fmt.Errorf("open the database %s: %w", abs, err)
	}
	var version int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		d.Close()
		return nil, fmt.Errorf("open the database %s: %w%s", abs, err, notADB(err))
	}
	if version == 0 {
		d.Close()
		return nil, fmt.Errorf("%s is not an mcpscope database (it has no schema version)", abs)
	}
	d.version = version
	return d, nil
}

// notADB returns a hint for an error that says the file is not a database.
func notADB(err error) string {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_NOTADB {
		return " (is it an SQLite database?)"
	}
	return ""
}

// Path returns the database's absolute path.
func (d *DB) Path() string { return d.path }

// Version returns the database's schema version (PRAGMA user_version).
func (d *DB) Version() int { return d.version }

// hasHTTP reports whether the database has the HTTP columns and tables (schema version 2).
func (d *DB) hasHTTP() bool { return d.version >= 2 }

// Close closes the database.
func (d *DB) Close() error {
	d.conn.Close()
	return d.db.Close()
}

// Result is the outcome of a query: column names and rows of values, each nil (NULL), int64, float64, string or
// []byte (a BLOB).
type Result struct {
	Columns []string
	Rows    [][]any
}

// Query runs one SQL statement and returns all its rows. Errors are worded for people (see [Explain]).
func (d *DB) Query(ctx context.Context, query string) (*Result, error) {
	if strings.TrimSpace(query) == "" {
		return nil, errors.New("no SQL given: try `mcpscope query \"SELECT * FROM tool_calls\"`, or --schema for the tables")
	}
	rows, err := d.conn.QueryContext(ctx, query)
	if err != nil {
		return nil, Explain(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, Explain(err)
	}
	res := &Result{Columns: cols}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, Explain(err)
		}
		res.Rows = append(res.Rows, vals)
	}
	if err := rows.Err(); err != nil {
		return nil, Explain(err)
	}
	return res, nil
}

// QueryError is an SQLite error reworded for the person who wrote the query.
type QueryError struct {
	Message string
	Err     error // the driver's error
}

func (e *QueryError) Error() string { return e.Message }
func (e *QueryError) Unwrap() error { return e.Err }

// Explain rewords an SQLite error as a [QueryError]: a write is named as such, and SQLite's "SQL logic error"
// prefix and result-code suffix are dropped (`near "selec": syntax error`). Other errors are returned as they are.
func Explain(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	msg := se.Error()
	if i := strings.LastIndex(msg, " ("); i > 0 && strings.HasSuffix(msg, ")") {
		msg = msg[:i]
	}
	msg = strings.TrimPrefix(msg, "SQL logic error: ")
	switch {
	case se.Code()&0xff == sqlite3.SQLITE_READONLY:
		msg = "refused: the statement would change the database, and queries are read-only (" + msg + ")"
	case strings.Contains(msg, "too many attached databases"):
		msg = "refused: ATTACH and VACUUM are not allowed, queries read this database only"
	case se.Code()&0xff == sqlite3.SQLITE_AUTH, msg == "not authorized":
		msg = "refused: " + msg + " (queries cannot load extensions)"
	case se.Code()&0xff == sqlite3.SQLITE_IOERR:
		// Changing the journal mode of a read-only file, for one, fails as an I/O error.
		msg = "refused: " + msg + " (the database is opened read-only: queries cannot change it or its settings)"
	case se.Code()&0xff == sqlite3.SQLITE_BUSY:
		msg += " (the database is busy; try again)"
	}
	return &QueryError{Message: msg, Err: err}
}
