CREATE TABLE schema_tables (
  name TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  description TEXT NOT NULL
);
CREATE TABLE schema_columns (
  table_name TEXT NOT NULL,
  position INTEGER NOT NULL,
  name TEXT NOT NULL,
  type TEXT NOT NULL,
  description TEXT NOT NULL
);
CREATE TABLE captures (
  id INTEGER PRIMARY KEY,
  started_at TEXT NOT NULL,
  ended_at TEXT,
  version TEXT NOT NULL,
  hostname TEXT NOT NULL,
  pid INTEGER NOT NULL,
  counters TEXT,
  rows_dropped INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE processes (
  id INTEGER PRIMARY KEY,
  capture_id INTEGER NOT NULL REFERENCES captures(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  pid INTEGER NOT NULL,
  comm TEXT NOT NULL,
  first_seen TEXT NOT NULL,
  last_seen TEXT NOT NULL
);
CREATE INDEX processes_pid ON processes(pid);
CREATE INDEX processes_last_seen ON processes(last_seen);
CREATE TABLE sessions (
  id INTEGER PRIMARY KEY,
  capture_id INTEGER NOT NULL REFERENCES captures(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  name TEXT NOT NULL,
  transport TEXT NOT NULL,
  client_pid INTEGER,
  client_comm TEXT,
  server_pid INTEGER,
  server_comm TEXT,
  era TEXT,
  protocol_version TEXT,
  first_seen TEXT NOT NULL,
  last_seen TEXT NOT NULL,
  messages INTEGER NOT NULL
);
CREATE INDEX sessions_capture_id ON sessions(capture_id);
CREATE INDEX sessions_name ON sessions(name);
CREATE INDEX sessions_last_seen ON sessions(last_seen);
CREATE TABLE tool_calls (
  id INTEGER PRIMARY KEY,
  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  method TEXT NOT NULL,
  tool TEXT,
  resource TEXT,
  prompt TEXT,
  rpc_id TEXT NOT NULL,
  client_pid INTEGER NOT NULL,
  client_comm TEXT NOT NULL,
  server_pid INTEGER NOT NULL,
  server_comm TEXT NOT NULL,
  arguments TEXT,
  started_at TEXT NOT NULL,
  ended_at TEXT,
  duration_ms REAL,
  status TEXT NOT NULL,
  is_error INTEGER,
  error_code INTEGER,
  error_message TEXT,
  cancelled INTEGER NOT NULL DEFAULT 0,
  request_message_id INTEGER,
  response_message_id INTEGER,
  user_cpu_ms REAL,
  sys_cpu_ms REAL
);
CREATE INDEX tool_calls_session_id ON tool_calls(session_id);
CREATE INDEX tool_calls_started_at ON tool_calls(started_at);
CREATE INDEX tool_calls_tool ON tool_calls(tool);
CREATE INDEX tool_calls_request_message_id ON tool_calls(request_message_id);
CREATE INDEX tool_calls_response_message_id ON tool_calls(response_message_id);
CREATE TABLE messages (
  id INTEGER PRIMARY KEY,
  session_id INTEGER REFERENCES sessions(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  call_id INTEGER REFERENCES tool_calls(id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED,
  ts TEXT NOT NULL,
  transport TEXT NOT NULL,
  direction TEXT,
  type TEXT NOT NULL,
  rpc_id TEXT,
  method TEXT,
  method_kind TEXT,
  tool TEXT,
  resource TEXT,
  prompt TEXT,
  from_pid INTEGER NOT NULL,
  from_comm TEXT NOT NULL,
  to_pid INTEGER NOT NULL,
  to_comm TEXT NOT NULL,
  size INTEGER NOT NULL,
  latency_ms REAL,
  is_error INTEGER,
  error_code INTEGER,
  error_message TEXT,
  era TEXT,
  protocol_version TEXT,
  result_type TEXT,
  progress_token TEXT,
  related_id TEXT,
  late INTEGER NOT NULL DEFAULT 0,
  retry_of TEXT,
  batch_index INTEGER,
  batch_count INTEGER,
  truncated INTEGER NOT NULL DEFAULT 0,
  lost_bytes INTEGER NOT NULL DEFAULT 0,
  message TEXT
);
CREATE INDEX messages_ts ON messages(ts);
CREATE INDEX messages_session_id ON messages(session_id);
CREATE INDEX messages_call_id ON messages(call_id);
CREATE TABLE syscalls (
  id INTEGER PRIMARY KEY,
  call_id INTEGER NOT NULL REFERENCES tool_calls(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  pid INTEGER NOT NULL,
  shared INTEGER NOT NULL DEFAULT 0,
  name TEXT NOT NULL,
  count INTEGER NOT NULL,
  errors INTEGER NOT NULL,
  errnos TEXT,
  total_ns INTEGER NOT NULL
);
CREATE INDEX syscalls_call_id ON syscalls(call_id);
CREATE TABLE files (
  id INTEGER PRIMARY KEY,
  call_id INTEGER NOT NULL REFERENCES tool_calls(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  pid INTEGER NOT NULL,
  shared INTEGER NOT NULL DEFAULT 0,
  path TEXT NOT NULL,
  flags TEXT,
  result TEXT NOT NULL,
  count INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX files_call_id ON files(call_id);
CREATE TABLE execs (
  id INTEGER PRIMARY KEY,
  call_id INTEGER NOT NULL REFERENCES tool_calls(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  pid INTEGER NOT NULL,
  shared INTEGER NOT NULL DEFAULT 0,
  ppid INTEGER,
  filename TEXT NOT NULL,
  argv TEXT,
  exit_code INTEGER,
  started_at TEXT,
  duration_ms REAL
);
CREATE INDEX execs_call_id ON execs(call_id);
CREATE TABLE connections (
  id INTEGER PRIMARY KEY,
  call_id INTEGER NOT NULL REFERENCES tool_calls(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  pid INTEGER NOT NULL,
  shared INTEGER NOT NULL DEFAULT 0,
  op TEXT NOT NULL,
  family TEXT NOT NULL,
  remote_addr TEXT,
  remote_port INTEGER,
  result TEXT NOT NULL,
  count INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX connections_call_id ON connections(call_id);
CREATE TABLE libraries (
  id INTEGER PRIMARY KEY,
  call_id INTEGER NOT NULL REFERENCES tool_calls(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  pid INTEGER NOT NULL,
  shared INTEGER NOT NULL DEFAULT 0,
  path TEXT NOT NULL,
  kind TEXT NOT NULL
);
CREATE INDEX libraries_call_id ON libraries(call_id);
CREATE TABLE gpu (
  id INTEGER PRIMARY KEY,
  call_id INTEGER NOT NULL REFERENCES tool_calls(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  pid INTEGER NOT NULL,
  shared INTEGER NOT NULL DEFAULT 0,
  kind TEXT NOT NULL,
  detail TEXT NOT NULL,
  count INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX gpu_call_id ON gpu(call_id);
CREATE VIEW slowest_calls(call_id, method, name, server_comm, started_at, duration_ms, status) AS
SELECT id, method, coalesce(tool, prompt, resource), server_comm, started_at, duration_ms, status
FROM tool_calls WHERE duration_ms IS NOT NULL ORDER BY duration_ms DESC;
CREATE VIEW tool_stats(method, name, server_comm, calls, answered, failed, avg_ms, max_ms) AS
SELECT method, coalesce(tool, prompt, resource), server_comm, count(*), count(duration_ms),
  sum(status IN ('error', 'tool_error')), avg(duration_ms), max(duration_ms)
FROM tool_calls GROUP BY method, coalesce(tool, prompt, resource), server_comm ORDER BY avg(duration_ms) DESC;
CREATE VIEW calls_with_programs(call_id, name, server_comm, started_at, pid, filename, argv, exit_code) AS
SELECT c.id, coalesce(c.tool, c.prompt, c.resource), c.server_comm, c.started_at, e.pid, e.filename, e.argv, e.exit_code
FROM tool_calls c JOIN execs e ON e.call_id = c.id ORDER BY c.id, e.id;
CREATE VIEW calls_with_network(call_id, name, server_comm, started_at, pid, op, family, remote_addr, remote_port, result) AS
SELECT c.id, coalesce(c.tool, c.prompt, c.resource), c.server_comm, c.started_at, n.pid, n.op, n.family, n.remote_addr, n.remote_port, n.result
FROM tool_calls c JOIN connections n ON n.call_id = c.id ORDER BY c.id, n.id;
CREATE VIEW calls_with_files(call_id, name, pid, path, flags, result, count) AS
SELECT c.id, coalesce(c.tool, c.prompt, c.resource), f.pid, f.path, f.flags, f.result, f.count
FROM tool_calls c JOIN files f ON f.call_id = c.id ORDER BY c.id, f.id;
CREATE VIEW call_footprints(call_id, started_at, session, server_pid, server_comm, method, name, status, duration_ms, user_cpu_ms, sys_cpu_ms, syscalls, files, programs, connections, libraries, gpu) AS
SELECT c.id, c.started_at, s.name, c.server_pid, c.server_comm, c.method, coalesce(c.tool, c.prompt, c.resource),
  c.status, c.duration_ms, c.user_cpu_ms, c.sys_cpu_ms,
  (SELECT coalesce(sum(count), 0) FROM syscalls WHERE call_id = c.id),
  (SELECT count(DISTINCT path) FROM files WHERE call_id = c.id),
  (SELECT count(*) FROM execs WHERE call_id = c.id),
  (SELECT count(*) FROM connections WHERE call_id = c.id),
  (SELECT count(*) FROM libraries WHERE call_id = c.id),
  (SELECT count(*) FROM gpu WHERE call_id = c.id)
FROM tool_calls c JOIN sessions s ON s.id = c.session_id;
