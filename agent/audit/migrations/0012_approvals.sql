-- Human approval (agent/approval): an approved order that waits for a
-- person is a proposal. Unlike records, these rows change (pending, then
-- approved, placing, placed, denied, void or expired); every change is
-- also an approval event record in the chain, written in the same
-- transaction, with who, through which channel, the hash they saw and
-- the re-judged verdict.
CREATE TABLE approvals (
	decision_id TEXT    PRIMARY KEY,
	run_id      TEXT    NOT NULL,
	hash        TEXT    NOT NULL,  -- sha256 hex over decision id, order, policy hash, judged state
	status      TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'placing', 'placed', 'denied', 'void', 'expired')),
	created_at  INTEGER NOT NULL,  -- Unix nanoseconds, decision clock
	expires_at  INTEGER NOT NULL,
	proposal    TEXT    NOT NULL,  -- JSON: order, recommendation, judged state, rules passed
	decided_by  TEXT    NOT NULL DEFAULT '',
	channel     TEXT    NOT NULL DEFAULT '',
	decided_at  INTEGER NOT NULL DEFAULT 0,  -- wall clock
	hash_seen   TEXT    NOT NULL DEFAULT '',
	reason      TEXT    NOT NULL DEFAULT '',
	updated_at  INTEGER NOT NULL
);
CREATE INDEX approvals_status ON approvals(status);

-- Inbound chat updates already handled (Telegram callback query ids and
-- update ids), so that a replayed one is ignored, and each bot's next
-- getUpdates offset.
CREATE TABLE approval_inbound (
	id      TEXT    PRIMARY KEY,
	seen_at INTEGER NOT NULL
);
CREATE TABLE approval_offsets (
	bot         TEXT    PRIMARY KEY,
	next_offset INTEGER NOT NULL
);
