-- Sealed archives (archive.go): `warden audit archive` moves the oldest
-- records into a sealed file and removes them from this database, in one
-- transaction that also appends an archive record (the file's SHA-256, the
-- range and the chain hash at its end) to the chain. That is the only way
-- a record leaves: DELETE is refused unless the archive transaction has
-- put its guard row here (it removes it before committing, so the row
-- never outlives the transaction), and then only up to the guarded seq.
CREATE TABLE archive_guard (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	upto INTEGER NOT NULL
);

DROP TRIGGER records_no_delete;
CREATE TRIGGER records_no_delete BEFORE DELETE ON records
WHEN NOT EXISTS (SELECT 1 FROM archive_guard WHERE OLD.seq <= upto)
BEGIN
	SELECT RAISE(ABORT, 'append-only: audit records cannot be deleted (only warden audit archive moves them out)');
END;
