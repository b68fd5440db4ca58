package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// usedBytes returns the bytes of the database's pages in use (free pages excluded: SQLite reuses them).
func (s *Store) usedBytes(ctx context.Context) (int64, error) {
	var pages, free, size int64
	err := s.db.QueryRowContext(ctx, "SELECT p.page_count, f.freelist_count, s.page_size FROM pragma_page_count() p, pragma_freelist_count() f, pragma_page_size() s").
		Scan(&pages, &free, &size)
	return (pages - free) * size, err
}

// prune deletes the oldest data, a tenth at a time, until the database fits in nine tenths of Options.MaxBytes.
// See [Store] for what goes.
func (s *Store) prune(ctx context.Context) error {
	used, err := s.usedBytes(ctx)
	if err != nil {
		return err
	}
	if used <= s.opts.MaxBytes {
		return nil
	}
	target := s.opts.MaxBytes / 10 * 9
	var deleted int64
	for used > target {
		cut, ok, err := s.cutoff(ctx)
		if err != nil {
			return err
		}
		if !ok {
			break // nothing left that can go
		}
		n, err := s.deleteBefore(ctx, cut)
		if err != nil {
			return err
		}
		deleted += n
		if _, err := s.db.ExecContext(ctx, "PRAGMA incremental_vacuum"); err != nil {
			return fmt.Errorf("return free pages: %w", err)
		}
		if used, err = s.usedBytes(ctx); err != nil {
			return err
		}
		if n == 0 {
			break
		}
	}
	s.stats.prunes.Add(1)
	s.stats.pruned.Add(uint64(deleted))
	if used > s.opts.MaxBytes {
		fmt.Fprintf(s.opts.Log, "mcpscope: database %s holds %d MiB, over its cap of %d MiB, and nothing older is left to delete\n",
			s.path, used>>20, s.opts.MaxBytes>>20)
	}
	return nil
}

// cutoff returns the time before which a tenth of the messages (or, with none, of the calls; with none of
// either, of the HTTP exchanges) were written.
func (s *Store) cutoff(ctx context.Context) (string, bool, error) {
	for _, q := range []string{
		"SELECT ts FROM messages ORDER BY ts LIMIT 1 OFFSET (SELECT count(*) / 10 FROM messages)",
		"SELECT started_at FROM tool_calls ORDER BY started_at LIMIT 1 OFFSET (SELECT count(*) / 10 FROM tool_calls)",
		"SELECT ts FROM http_exchanges ORDER BY ts LIMIT 1 OFFSET (SELECT count(*) / 10 FROM http_exchanges)",
	} {
		var cut string
		err := s.db.QueryRowContext(ctx, q).Scan(&cut)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return "", false, fmt.Errorf("find what to prune: %w", err)
		}
		return cut, true, nil
	}
	return "", false, nil
}

// deleteBefore deletes, in one transaction, everything that ended at or before cut, and returns the rows deleted
// (cascaded rows not counted).
func (s *Store) deleteBefore(ctx context.Context, cut string) (int64, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("prune: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it does nothing
	var total int64
	for _, q := range []string{
		"DELETE FROM sessions WHERE last_seen <= ?1",
		"DELETE FROM tool_calls WHERE started_at <= ?1",
		"DELETE FROM messages WHERE ts <= ?1",
		"DELETE FROM http_exchanges WHERE ts <= ?1",
		"DELETE FROM processes WHERE last_seen <= ?1",
		// A finished capture goes with its last session; its row says what it saw (counters), so it stays while
		// anything of it does.
		`DELETE FROM captures WHERE ended_at IS NOT NULL AND ended_at <= ?1
		   AND NOT EXISTS (SELECT 1 FROM sessions WHERE capture_id = captures.id)
		   AND NOT EXISTS (SELECT 1 FROM processes WHERE capture_id = captures.id)`,
	} {
		res, err := tx.ExecContext(ctx, q, cut)
		if err != nil {
			return 0, fmt.Errorf("prune: %w", err)
		}
		n, _ := res.RowsAffected()
		total += n
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("prune: %w", err)
	}
	return total, nil
}
