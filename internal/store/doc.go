// Package store is mcpscope's embedded SQL database (SQLite, through the pure-Go modernc.org/sqlite driver): what
// `watch` records by default, and what `mcpscope query`, `calls` and `show` read.
//
// The schema (tables, columns, views and what each means) is declared once, in [Schema]: the DDL, the
// schema_tables and schema_columns tables inside every database, `mcpscope query --schema` and docs/sql.md all
// come from it, and tests check that they agree. [SchemaVersion] is kept in PRAGMA user_version; [Open] upgrades
// older databases step by step and refuses newer ones.
//
// Writing ([Open], [Store]) is asynchronous and bounded, so that a slow disk costs counted, reported rows rather
// than a stalled capture; it is batched into transactions in WAL mode, so a crash loses at most the last batch and
// never corrupts the file; and it is capped in size, pruning the oldest data first. The output/storesink package
// turns the pipeline's records into batches.
//
// Reading ([OpenReadOnly], [DB]) is read-only by construction (see [DB]) and runs beside a writer.
package store
