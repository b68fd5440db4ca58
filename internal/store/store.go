package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver: pure Go, no cgo
)

// Defaults for Options.
const (
	DefaultQueueBytes   = 64 << 20
	DefaultQueueBatches = 256
	DefaultCloseTimeout = 3 * time.Second
	DefaultCheckEvery   = time.Second
	// DefaultCommitEvery is the least time between two commits: the batches that come meanwhile go into the second,
	// up to groupBytes of them. Every commit writes each page it touched to the write-ahead log, and a steady stream
	// of small messages touches the same few pages each time: committed as they came, one batch per capture poll,
	// the commits took a third of the writer's CPU under a ping-pong session (docs/benchmarks.md).
	DefaultCommitEvery = 50 * time.Millisecond
	// maxGroupRows and groupBytes bound the rows and bytes the writer commits in one transaction. Grouping saves
	// nothing on large messages (their overflow pages are written once however they are grouped), and batches that
	// wait for a commit hold their messages: past groupBytes the writer commits without waiting.
	maxGroupRows = 16384
	groupBytes   = 256 << 10
	// freeBatches is how many emptied batches the Store keeps for NewBatch.
	freeBatches = 4
	// walLimit is the size the write-ahead log is truncated to after a checkpoint (PRAGMA journal_size_limit).
	walLimit = 16 << 20
)

// Options configure a Store opened for writing.
type Options struct {
	// MaxBytes caps the size of the database; beyond it the oldest data is deleted (see [Store] on pruning).
	// 0 means no cap.
	MaxBytes int64
	// QueueBytes and QueueBatches bound what waits to be written (defaults DefaultQueueBytes, DefaultQueueBatches).
	// Past either, Submit drops the batch and counts its rows.
	QueueBytes   int64
	QueueBatches int
	// CloseTimeout bounds how long Close waits for queued batches to be written (default DefaultCloseTimeout);
	// what is still queued then is dropped and counted.
	CloseTimeout time.Duration
	// CheckEvery is how often, at most, the writer checks the size against MaxBytes (default DefaultCheckEvery).
	CheckEvery time.Duration
	// CommitEvery is the least time between two commits (default DefaultCommitEvery); negative: each batch is
	// committed as it comes, with those already queued behind it.
	CommitEvery time.Duration
	// Log receives warnings for people (stderr): write failures, pruning. Nil discards them.
	Log io.Writer
}

// Stats are a Store's counters.
type Stats struct {
	RowsWritten uint64 // rows committed
	RowsDropped uint64 // rows never written: queue full, a failed transaction, or still queued at Close
	// MessagesDropped counts the messages among RowsDropped. (The other dropped rows are mostly sessions and calls
	// whose current state the next batch carries again, and the few HTTP exchanges that carried no message.)
	MessagesDropped uint64
	RowsSkipped     uint64 // footprint rows whose call had been pruned
	BatchesDropped  uint64
	Commits         uint64 // transactions committed
	RowsPruned      uint64 // rows deleted to stay under MaxBytes
	Prunes          uint64 // times pruning ran
}

// Counters returns s under the names used in stats records.
func (s Stats) Counters() map[string]uint64 {
	return map[string]uint64{
		"db_rows_written":     s.RowsWritten,
		"db_rows_dropped":     s.RowsDropped,
		"db_messages_dropped": s.MessagesDropped,
		"db_rows_skipped":     s.RowsSkipped,
		"db_commits":          s.Commits,
		"db_rows_pruned":      s.RowsPruned,
		"db_prune_runs":       s.Prunes,
		"db_batch_dropped":    s.BatchesDropped,
	}
}

// IDKind names a table whose row ids the Store hands out (see [Store.NextID]).
type IDKind int

// Tables with ids handed out by the Store.
const (
	IDCapture IDKind = iota
	IDProcess
	IDSession
	IDCall
	IDMessage
	IDHTTPExchange
	numIDKinds
)

var idTables = [numIDKinds]string{"captures", "processes", "sessions", "tool_calls", "messages", "http_exchanges"}

// Store is the SQLite database `watch` records into, opened for writing.
//
// Writes are asynchronous and never block the caller: [Store.Submit] queues a [Batch], and one writer goroutine
// commits queued batches, several per transaction when they pile up behind a slow commit. When the queue is full
// (the disk is slower than the capture), Submit drops the batch and counts its rows: the capture pipeline must never
// stall behind its database. The database is in WAL mode with synchronous=NORMAL: a transaction is atomic, so a
// crash or kill -9 loses at most what was not yet committed and never corrupts the file, and readers (mcpscope
// query) run beside the writer.
//
// With a size cap, the writer checks the size after commits (at most once per Options.CheckEvery) and, when the
// live pages exceed the cap, deletes the oldest tenth of the data by time, as whole ranges: sessions that ended
// before the cut (with everything in them), calls that began before it (with their footprints), messages, HTTP
// exchanges and processes last seen before it, and finished captures left empty; then it returns the freed pages
// to the file system (auto_vacuum=INCREMENTAL), until the data fits in nine tenths of the cap. Rows of the running capture
// are pruned like any other; batches carry their sessions' and calls' current rows, so later rows never point to
// a deleted one.
//
// Only one Store may write a database at a time; Open takes an exclusive lock (flock) on the file.
type Store struct {
	db   *sql.DB
	path string
	lock *os.File
	opts Options
	ids  [numIDKinds]atomic.Int64

	mu     sync.RWMutex // guards closed against Submit
	closed bool
	queue  chan *Batch
	free   chan *Batch  // batches written or dropped, emptied, for NewBatch
	queued atomic.Int64 // bytes of the batches in queue

	done   chan struct{}
	cancel context.CancelFunc

	writer writerConn // the writer goroutine's own

	stats struct {
		written, dropped, messagesDropped, skipped, batchesDropped, commits, pruned, prunes atomic.Uint64
	}
	errMu sync.Mutex
	err   error // first write error
}

// Open opens (creating it, and its directory, if needed) the database at path for writing, brings its schema to
// SchemaVersion, and starts the writer. It fails if another process writes the database, or if the database was
// made by a newer mcpscope.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if opts.QueueBytes <= 0 {
		opts.QueueBytes = DefaultQueueBytes
	}
	if opts.QueueBatches <= 0 {
		opts.QueueBatches = DefaultQueueBatches
	}
	if opts.CloseTimeout <= 0 {
		opts.CloseTimeout = DefaultCloseTimeout
	}
	if opts.CommitEvery == 0 {
		opts.CommitEvery = DefaultCommitEvery
	}
	if opts.CheckEvery <= 0 {
		opts.CheckEvery = DefaultCheckEvery
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("database path %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return nil, fmt.Errorf("create the database directory: %w", err)
	}
	lock, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open the database: %w", err)
	}
	// flock and SQLite's own (fcntl) locks are independent on Linux; this one only keeps two writers apart.
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("database %s is being written by another mcpscope, and only one may write it", abs)
		}
		return nil, fmt.Errorf("lock the database %s: %w", abs, err)
	}
	// A page cache of 4 MiB as SQLite counts it, about 950 pages. It costs twice that: the driver's allocator
	// (modernc.org/memory) rounds each cached page, 4 KiB and a few hundred bytes of SQLite's headers, up to a slot of 8 KiB.
	// The flood benchmarks insert as fast with it as with twice the pages, which made the default watch's peak RSS
	// 8 MiB higher under 64 KiB echoes; 2 MiB was slower (docs/benchmarks.md).
	db, err := sql.Open("sqlite", dsn(abs, "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_pragma=cache_size(-4096)&_pragma=temp_store(MEMORY)"+
		fmt.Sprintf("&_pragma=journal_size_limit(%d)", walLimit)))
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("open the database %s: %w", abs, err)
	}
	// One connection: SQLite has one writer anyway, and connection-level settings then hold for every statement.
	db.SetMaxOpenConns(1)
	s := &Store{db: db, path: abs, lock: lock, opts: opts, queue: make(chan *Batch, opts.QueueBatches),
		free: make(chan *Batch, freeBatches), done: make(chan struct{})}
	if err := s.migrate(ctx); err != nil {
		s.closeFiles()
		return nil, err
	}
	for k, t := range idTables {
		var max int64
		if err := db.QueryRowContext(ctx, "SELECT coalesce(max(id), 0) FROM "+t).Scan(&max); err != nil {
			s.closeFiles()
			return nil, fmt.Errorf("read the database %s: %w", abs, err)
		}
		s.ids[k].Store(max)
	}
	wctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.run(wctx)
	return s, nil
}

// dsn returns the driver's name for the database at abs with the given query parameters. The file: URI form lets
// SQLite's own parameters (mode=ro) through; the path is escaped so that ?, # and % in it stay part of it.
func dsn(abs, query string) string {
	return "file:" + (&url.URL{Path: abs}).EscapedPath() + "?" + query
}

// Path returns the database's absolute path.
func (s *Store) Path() string { return s.path }

// NextID returns a new row id for the table k. Ids are handed out in memory, from the largest id in the table
// when the Store was opened, so that a batch can link its rows before they are written. Safe for concurrent use.
func (s *Store) NextID(k IDKind) int64 { return s.ids[k].Add(1) }

// NewBatch returns an empty batch to fill and Submit: one the Store is done with when there is one, so that a
// steady stream of small batches does not allocate its slices anew each time. Safe for concurrent use.
func (s *Store) NewBatch() *Batch {
	select {
	case b := <-s.free:
		return b
	default:
		return &Batch{}
	}
}

// recycle empties b, which the Store is done with, for NewBatch.
func (s *Store) recycle(b *Batch) {
	b.reset()
	select {
	case s.free <- b:
	default:
	}
}

// Submit queues b for writing and returns at once. It returns false, and counts b's rows as dropped, when the
// queue is full or the Store is closed. The Store owns b afterwards: b may not be used again (the Store empties it
// for NewBatch once written), nor the bytes it points to written to. Safe for concurrent use.
func (s *Store) Submit(b *Batch) bool { return s.SubmitWait(b, 0) }

// SubmitWait is Submit, but waits up to d for room in the queue: for the last batch of a capture, which has no
// later batch to carry its rows.
func (s *Store) SubmitWait(b *Batch, d time.Duration) bool {
	n := b.Bytes()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		s.drop(b)
		return false
	}
	var timeout <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	for {
		if s.queued.Add(n) <= s.opts.QueueBytes {
			select {
			case s.queue <- b:
				return true
			default:
			}
		}
		s.queued.Add(-n)
		if timeout == nil {
			s.drop(b)
			return false
		}
		select {
		case <-timeout:
			s.drop(b)
			return false
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (s *Store) drop(b *Batch) {
	s.stats.dropped.Add(uint64(b.Rows()))
	s.stats.messagesDropped.Add(uint64(len(b.Messages)))
	s.stats.batchesDropped.Add(1)
	s.recycle(b)
}

// Stats returns the Store's counters. Safe for concurrent use.
func (s *Store) Stats() Stats {
	return Stats{
		RowsWritten: s.stats.written.Load(), RowsDropped: s.stats.dropped.Load(), MessagesDropped: s.stats.messagesDropped.Load(),
		RowsSkipped:    s.stats.skipped.Load(),
		BatchesDropped: s.stats.batchesDropped.Load(), Commits: s.stats.commits.Load(),
		RowsPruned: s.stats.pruned.Load(), Prunes: s.stats.prunes.Load(),
	}
}

// Err returns the first error the writer met (nil if none). Safe for concurrent use.
func (s *Store) Err() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

func (s *Store) fail(err error) {
	s.errMu.Lock()
	first := s.err == nil
	if first {
		s.err = err
	}
	s.errMu.Unlock()
	if first {
		fmt.Fprintf(s.opts.Log, "mcpscope: database %s: %v; the capture goes on, and rows that cannot be written are counted as dropped\n", s.path, err)
	}
}

// Close writes what is queued (waiting at most Options.CloseTimeout), stops the writer, and closes the database.
// Rows still queued at the deadline are dropped and counted. It returns the first write error, if any.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("store: already closed")
	}
	s.closed = true
	close(s.queue)
	s.mu.Unlock()

	select {
	case <-s.done:
	case <-time.After(s.opts.CloseTimeout):
		// Interrupt the statement in progress; the writer then fails (and counts) whatever is left, quickly.
		s.cancel()
		<-s.done
		fmt.Fprintf(s.opts.Log, "mcpscope: database %s did not take the last rows within %v; they were dropped\n", s.path, s.opts.CloseTimeout)
	}
	s.cancel()
	// Keep the query planner's statistics fresh for readers; analysis_limit keeps this to milliseconds.
	_, _ = s.db.Exec("PRAGMA analysis_limit = 400; PRAGMA optimize")
	err := s.closeFiles()
	return errors.Join(s.Err(), err)
}

func (s *Store) closeFiles() error {
	err := s.db.Close()
	if err != nil {
		err = fmt.Errorf("close the database %s: %w", s.path, err)
	}
	s.lock.Close() // releases the flock
	return err
}

// run is the writer goroutine: it commits batches as they come, grouping those that queued up meanwhile.
func (s *Store) run(ctx context.Context) {
	defer close(s.done)
	defer func() {
		if err := s.closeStatements(); err != nil {
			s.fail(err)
		}
	}()
	var lastCheck, lastCommit time.Time
	due := time.NewTimer(time.Hour) // reset before each use
	defer due.Stop()
	for b := range s.queue {
		var wait <-chan time.Time // nil: the commit is due now
		if d := s.opts.CommitEvery - time.Since(lastCommit); d > 0 {
			due.Reset(d)
			wait = due.C
		}
		group, bytes := s.gather(b, wait)
		lastCommit = time.Now()
		if ctx.Err() != nil {
			for _, g := range group {
				s.drop(g)
			}
		} else if err := s.commit(ctx, group); err != nil {
			for _, g := range group {
				s.drop(g)
			}
			if ctx.Err() == nil {
				s.fail(err)
			}
		} else {
			for _, g := range group {
				s.recycle(g)
			}
		}
		s.queued.Add(-bytes)
		if s.opts.MaxBytes > 0 && time.Since(lastCheck) >= s.opts.CheckEvery && ctx.Err() == nil {
			lastCheck = time.Now()
			if err := s.prune(ctx); err != nil && ctx.Err() == nil {
				s.fail(fmt.Errorf("prune to %d MiB: %w", s.opts.MaxBytes>>20, err))
			}
		}
	}
}

// gather returns b and the batches that join its commit, and their bytes: those that come until due fires (nil:
// none), then those already queued; up to maxGroupRows rows and groupBytes bytes, or until the queue closes.
func (s *Store) gather(b *Batch, due <-chan time.Time) ([]*Batch, int64) {
	group, rows, bytes := []*Batch{b}, b.Rows(), b.Bytes()
	full := func() bool { return rows >= maxGroupRows || bytes >= groupBytes }
	take := func(nb *Batch) {
		group, rows, bytes = append(group, nb), rows+nb.Rows(), bytes+nb.Bytes()
	}
	for due != nil && !full() {
		select {
		case nb, ok := <-s.queue:
			if !ok {
				return group, bytes
			}
			take(nb)
		case <-due:
			due = nil
		}
	}
	for !full() {
		select {
		case nb, ok := <-s.queue:
			if !ok {
				return group, bytes
			}
			take(nb)
		default:
			return group, bytes
		}
	}
	return group, bytes
}

// commit writes the batches in one transaction.
func (s *Store) commit(ctx context.Context, group []*Batch) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("take the database connection: %w", err)
	}
	defer conn.Close()
	var rows, skipped uint64
	err = conn.Raw(func(dc any) error {
		begin, ok := dc.(driver.ConnBeginTx)
		if !ok {
			return fmt.Errorf("the SQLite driver's connection (%T) cannot begin a transaction", dc)
		}
		tx, err := begin.BeginTx(context.WithoutCancel(ctx), driver.TxOptions{})
		if err != nil {
			return fmt.Errorf("begin a transaction: %w", err)
		}
		w := &txWriter{ctx: ctx, writerConn: s.writer.on(dc)}
		for _, b := range group {
			if err := w.batch(b); err != nil {
				return errors.Join(err, tx.Rollback())
			}
			rows += uint64(b.Rows())
		}
		skipped = w.skipped
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.stats.written.Add(rows - skipped)
	s.stats.skipped.Add(skipped)
	s.stats.commits.Add(1)
	return nil
}

// closeStatements finalizes the writer's prepared statements, once it has written its last batch.
func (s *Store) closeStatements() error {
	if s.writer.stmts == nil {
		return nil
	}
	conn, err := s.db.Conn(context.Background())
	if err != nil {
		return fmt.Errorf("take the database connection: %w", err)
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		if s.writer.conn != dc {
			return nil // prepared on a connection database/sql has closed since, with them
		}
		return s.writer.close()
	})
}
