-- records is the whole audit history: one row per recorded fact, in one
-- global sequence. Each row carries the hash of the row before it (prev_hash)
-- and its own hash over prev_hash and every other column, so an edited,
-- deleted or reordered row breaks the chain (see Store.Verify).
--
-- Columns other than body exist to be filtered and joined on; body holds the
-- whole record as JSON (redacted before it is written).
CREATE TABLE records (
	seq         INTEGER PRIMARY KEY,          -- global sequence, 1, 2, 3, ... without gaps
	kind        TEXT    NOT NULL,             -- run, run_end, llm_call, response, state, verdict, order_event, fill, event, notification, delivery, paper_state, equity
	at          INTEGER NOT NULL,             -- when it happened, Unix nanoseconds UTC (simulated time in backtests)
	run_id      TEXT    NOT NULL DEFAULT '',
	decision_id TEXT    NOT NULL DEFAULT '',  -- run_id ":" index for verdicts and the orders they led to
	ref         TEXT    NOT NULL DEFAULT '',  -- what the record is about: client order id, event kind, channel, advisor
	symbol      TEXT    NOT NULL DEFAULT '',
	state       TEXT    NOT NULL DEFAULT '',  -- decision, order state, on/off, delivery outcome, run status
	dedup       TEXT    NOT NULL DEFAULT '',  -- notification dedup key, fill trade id
	parent      INTEGER NOT NULL DEFAULT 0,   -- seq of a related record: delivery -> notification, verdict -> state
	due         INTEGER NOT NULL DEFAULT 0,   -- delivery: next attempt, Unix nanoseconds; safe mode: until
	tokens      INTEGER NOT NULL DEFAULT 0,   -- llm_call: total tokens
	body        TEXT    NOT NULL,             -- the record as JSON
	prev_hash   BLOB    NOT NULL,
	hash        BLOB    NOT NULL
);

CREATE INDEX records_kind_at  ON records(kind, at);
CREATE INDEX records_kind_ref ON records(kind, ref, seq);
CREATE INDEX records_run      ON records(run_id, kind) WHERE run_id <> '';
CREATE INDEX records_decision ON records(decision_id, kind) WHERE decision_id <> '';
CREATE INDEX records_parent   ON records(parent, seq) WHERE parent <> 0;

-- A decision id is recorded once; a notification is enqueued once per
-- channel and dedup key; a fill once per symbol and trade id.
CREATE UNIQUE INDEX records_verdict_once      ON records(decision_id) WHERE kind = 'verdict';
CREATE UNIQUE INDEX records_notification_once ON records(ref, dedup) WHERE kind = 'notification';
CREATE UNIQUE INDEX records_fill_once         ON records(symbol, dedup) WHERE kind = 'fill' AND dedup <> '';

-- History is append-only: a change of state is a new row. A new row takes
-- the next seq, so INSERT OR REPLACE cannot overwrite one either.
CREATE TRIGGER records_append_only BEFORE INSERT ON records
WHEN NEW.seq IS NULL OR NEW.seq <> (SELECT COALESCE(MAX(seq), 0) + 1 FROM records)
BEGIN
	SELECT RAISE(ABORT, 'append-only: a new audit record must take the next seq');
END;

CREATE TRIGGER records_no_update BEFORE UPDATE ON records
BEGIN
	SELECT RAISE(ABORT, 'append-only: audit records cannot be updated');
END;

CREATE TRIGGER records_no_delete BEFORE DELETE ON records
BEGIN
	SELECT RAISE(ABORT, 'append-only: audit records cannot be deleted');
END;
