-- voicegate audit trail, schema version 1.
--
-- Applied once, in a transaction, by host/src/audit/schema.rs, which then
-- records the version in `schema_version`. Never edit a released migration:
-- add 0002_….sql instead. docs/audit.md describes every column.
--
-- Times are UTC RFC 3339 with exactly three fractional digits
-- (`2025-01-31T09:15:02.125Z`), so they sort and compare as text.

-- One row per accepted call. Inserted on `call.created`; the writer later
-- fills stream_id (`call.started`) and ended_at/end_reason (`call.ended`),
-- and changes nothing else.
CREATE TABLE calls (
    session_id  TEXT PRIMARY KEY NOT NULL,
    transport   TEXT NOT NULL,
    call_id     TEXT NOT NULL,
    stream_id   TEXT,
    from_number TEXT NOT NULL,
    to_number   TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    ended_at    TEXT,
    end_reason  TEXT
) WITHOUT ROWID;
CREATE INDEX calls_started_at ON calls (started_at);
CREATE INDEX calls_call_id ON calls (call_id);
CREATE INDEX calls_from_number ON calls (from_number, started_at);

-- One row per admission decision: the policy chain's verdict on an accepted
-- call (session_id set) or on a denied one (session_id NULL), and the host's
-- own refusals (busy, shutting down, policy error; tier NULL).
CREATE TABLE verdicts (
    id          INTEGER PRIMARY KEY,
    session_id  TEXT,
    call_id     TEXT NOT NULL,
    transport   TEXT NOT NULL,
    from_number TEXT NOT NULL,
    to_number   TEXT NOT NULL,
    allowed     INTEGER NOT NULL CHECK (allowed IN (0, 1)),
    tier        TEXT,
    reasons     TEXT NOT NULL DEFAULT '[]',
    at          TEXT NOT NULL
);
CREATE INDEX verdicts_session_id ON verdicts (session_id);
CREATE INDEX verdicts_at ON verdicts (at);
CREATE INDEX verdicts_call_id ON verdicts (call_id);
CREATE INDEX verdicts_from_number ON verdicts (from_number, at);

-- What callers said (final transcripts).
CREATE TABLE transcripts (
    id         INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL,
    text       TEXT NOT NULL,
    latency_ms INTEGER,
    at         TEXT NOT NULL
);
CREATE INDEX transcripts_session_id ON transcripts (session_id, id);

-- What the agent answered.
CREATE TABLE answers (
    id         INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL,
    text       TEXT NOT NULL,
    at         TEXT NOT NULL
);
CREATE INDEX answers_session_id ON answers (session_id, id);

-- Admin API requests that change something, and audit queries.
CREATE TABLE admin_actions (
    id          INTEGER PRIMARY KEY,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    remote_addr TEXT,
    at          TEXT NOT NULL
);
CREATE INDEX admin_actions_at ON admin_actions (at);
CREATE INDEX admin_actions_target ON admin_actions (target);

-- Rows are never rewritten. Deleting old rows (retention) stays possible.
CREATE TRIGGER verdicts_append_only BEFORE UPDATE ON verdicts
BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END;
CREATE TRIGGER transcripts_append_only BEFORE UPDATE ON transcripts
BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END;
CREATE TRIGGER answers_append_only BEFORE UPDATE ON answers
BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END;
CREATE TRIGGER admin_actions_append_only BEFORE UPDATE ON admin_actions
BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END;
CREATE TRIGGER calls_append_only
BEFORE UPDATE OF session_id, transport, call_id, from_number, to_number, started_at ON calls
BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END;
