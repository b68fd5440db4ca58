package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mcpscope/mcpscope/internal/store"
	"github.com/mcpscope/mcpscope/internal/store/format"
)

// rootDBPath is where watch records when run as root.
const rootDBPath = "/var/lib/mcpscope/mcpscope.db"

// env is what the default database path depends on; tests fill it in.
type env struct {
	euid   int
	getenv func(string) string
	home   func() (string, error)
	exists func(string) bool
}

func hostEnv() env {
	return env{
		euid:   os.Geteuid(),
		getenv: os.Getenv,
		home:   os.UserHomeDir,
		// A file we may not even stat (root's, to a user) exists: reading it then says why it cannot.
		exists: func(p string) bool { _, err := os.Stat(p); return !errors.Is(err, os.ErrNotExist) },
	}
}

// defaultDBPath is where watch records without --db: /var/lib/mcpscope for root, the XDG state directory
// ($XDG_STATE_HOME, else ~/.local/state) for anyone else.
func (e env) defaultDBPath() (string, error) {
	if e.euid == 0 {
		return rootDBPath, nil
	}
	state := e.getenv("XDG_STATE_HOME")
	if !filepath.IsAbs(state) { // the XDG spec says to ignore a relative value
		home, err := e.home()
		if err != nil {
			return "", fmt.Errorf("find the default database (give --db PATH): %w", err)
		}
		state = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(state, "mcpscope", "mcpscope.db"), nil
}

// readDBPath is the database query, calls and show read: --db, else the default database, else, for a user
// whose own default does not exist, root's (where `sudo mcpscope` records).
func (e env) readDBPath(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	p, err := e.defaultDBPath()
	if err != nil {
		return "", err
	}
	if !e.exists(p) && e.exists(rootDBPath) {
		return rootDBPath, nil
	}
	return p, nil
}

type queryOptions struct {
	io     IO
	env    env
	db     string
	format string
	schema bool
}

func newQueryCmd(streams IO) *cobra.Command {
	o := &queryOptions{io: streams, env: hostEnv()}
	cmd := &cobra.Command{
		Use:   "query [--db PATH] [--format table|csv|json] \"SQL\" | --schema",
		Short: "Run a read-only SQL query on the recorded database",
		Long: `Run one SQL statement (SQLite dialect) on the database watch records into, and print its rows.

The database is opened read-only by SQLite itself: any statement that would change it fails, and so does ATTACH.
It can be queried while watch is recording. --schema prints every table and view with the meaning of each
column (also in the tables schema_tables and schema_columns, and in docs/sql.md).

The table format cuts long values and escapes control characters; csv and json print every value whole.`,
		Example: `  mcpscope query --schema
  mcpscope query "SELECT * FROM slowest_calls LIMIT 10"
  mcpscope query --format json "SELECT tool, json_extract(arguments, '$.path') AS path FROM tool_calls"
  mcpscope query --format csv "SELECT ts, method, size FROM messages" > messages.csv
  mcpscope query "SELECT * FROM http_errors"`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runQuery(cmd, o, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.db, "db", "", "the database `PATH` (default: where watch records)")
	f.StringVar(&o.format, "format", format.Table, "output format: table, csv or json")
	f.BoolVar(&o.schema, "schema", false, "print the tables, views and columns with their meaning, and exit")
	return cmd
}

func runQuery(cmd *cobra.Command, o *queryOptions, args []string) error {
	if o.schema {
		if len(args) > 0 {
			return errors.New("--schema takes no SQL")
		}
		return store.WriteText(o.io.Out)
	}
	switch o.format {
	case format.Table, format.CSV, format.JSON:
	default:
		return fmt.Errorf("--format %q: use table, csv or json", o.format)
	}
	if len(args) != 1 {
		return errors.New(`give one SQL statement, quoted, e.g. mcpscope query "SELECT * FROM tool_calls LIMIT 5" (see --schema for the tables)`)
	}
	path, err := o.env.readDBPath(o.db)
	if err != nil {
		return err
	}
	db, err := store.OpenReadOnly(cmd.Context(), path)
	if err != nil {
		return err
	}
	defer db.Close()
	res, err := db.Query(cmd.Context(), args[0])
	if err != nil {
		var qe *store.QueryError
		if errors.As(err, &qe) {
			return fmt.Errorf("query: %w", err)
		}
		return fmt.Errorf("query %s: %w", db.Path(), err)
	}
	return format.Write(o.io.Out, res, o.format)
}

// oneLine shortens free text (JSON, messages) to one terminal-safe line.
func oneLine(s string, max int) string {
	return format.Escape(strings.Join(strings.Fields(s), " "), max)
}
