-- blobs holds large parts that many records share (the system prompt, the
-- response schema, a repeated cached response), stored once under the
-- SHA-256 of their bytes (hex); large unique texts (a prompt's market
-- data, a raw response) are kept there too, compressed. A record refers to a blob by that hash
-- inside its chained body, so the chain covers the blob: Verify rehashes
-- every blob a record refers to. Append-only: the first body stored for a
-- hash stays, and nothing is updated or deleted. A blob may be stored
-- compressed (codec 'deflate'); its hash is that of the bytes it holds
-- uncompressed.
-- (A rowid table: rows of a kilobyte or more pack badly WITHOUT ROWID.)
CREATE TABLE blobs (
	id         INTEGER PRIMARY KEY,
	hash       TEXT    NOT NULL UNIQUE,
	codec      TEXT    NOT NULL DEFAULT '',  -- '' (as is) or 'deflate' (RFC 1951)
	body       BLOB    NOT NULL,
	created_at INTEGER NOT NULL   -- Unix nanoseconds UTC
);

CREATE TRIGGER blobs_first_wins BEFORE INSERT ON blobs
WHEN EXISTS (SELECT 1 FROM blobs WHERE hash = NEW.hash)
BEGIN
	SELECT RAISE(IGNORE);
END;

CREATE TRIGGER blobs_no_update BEFORE UPDATE ON blobs
BEGIN
	SELECT RAISE(ABORT, 'append-only: blobs cannot be updated');
END;

CREATE TRIGGER blobs_no_delete BEFORE DELETE ON blobs
BEGIN
	SELECT RAISE(ABORT, 'append-only: blobs cannot be deleted');
END;

-- A cached response body may live in blobs (body then empty, blob its hash).
ALTER TABLE llm_cache ADD COLUMN blob TEXT NOT NULL DEFAULT '';
