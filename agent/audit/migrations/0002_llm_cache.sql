-- llm_cache keeps model responses by a hash of model and prompt, so a
-- backtest rerun costs nothing. It is a cache, not history: it is outside the
-- hash chain, but append-only like everything else (the first body stored
-- for a key stays).
CREATE TABLE llm_cache (
	key        TEXT    PRIMARY KEY,
	model      TEXT    NOT NULL,
	body       BLOB    NOT NULL,
	created_at INTEGER NOT NULL   -- Unix nanoseconds UTC
) WITHOUT ROWID;

-- The first body stored for a key stays, even under INSERT OR REPLACE.
CREATE TRIGGER llm_cache_first_wins BEFORE INSERT ON llm_cache
WHEN EXISTS (SELECT 1 FROM llm_cache WHERE key = NEW.key)
BEGIN
	SELECT RAISE(IGNORE);
END;

CREATE TRIGGER llm_cache_no_update BEFORE UPDATE ON llm_cache
BEGIN
	SELECT RAISE(ABORT, 'append-only: cached responses cannot be updated');
END;

CREATE TRIGGER llm_cache_no_delete BEFORE DELETE ON llm_cache
BEGIN
	SELECT RAISE(ABORT, 'append-only: cached responses cannot be deleted');
END;
