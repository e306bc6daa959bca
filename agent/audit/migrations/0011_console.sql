-- The console's users and sessions (agent/console, `warden ui`). Unlike
-- records, these rows change: a session is touched and ends, a user is
-- removed. Every change that matters (a user added, removed or re-enrolled,
-- a login, a failure, a lockout, a logout, an action) is also an event
-- record in the chain, written in the same transaction.
--
-- password_hash is an argon2id PHC string; totp_secret the base32 TOTP key
-- (the database file is private to its owner, 0600). totp_step is the time
-- step of the last accepted code: a code is accepted only for a later step,
-- so a code works once, across processes (RFC 6238 section 5.2).
CREATE TABLE console_users (
	name          TEXT    PRIMARY KEY,
	role          TEXT    NOT NULL CHECK (role IN ('viewer', 'operator')),
	password_hash TEXT    NOT NULL,
	totp_secret   TEXT    NOT NULL,
	totp_step     INTEGER NOT NULL DEFAULT 0,
	failures      INTEGER NOT NULL DEFAULT 0,  -- failed logins since the last success
	locked_until  INTEGER NOT NULL DEFAULT 0,  -- Unix nanoseconds; 0: not locked
	created_at    INTEGER NOT NULL
);

-- A session is stored under the SHA-256 of its id: the cookie value itself
-- is never written, so a copy of the database opens no session.
CREATE TABLE console_sessions (
	id_hash    TEXT    PRIMARY KEY,
	user       TEXT    NOT NULL REFERENCES console_users(name) ON DELETE CASCADE,
	created_at INTEGER NOT NULL,
	last_seen  INTEGER NOT NULL
);
CREATE INDEX console_sessions_user ON console_sessions(user);
