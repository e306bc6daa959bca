package audit

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WithArchives returns a read-only store holding the archived records of
// dir and the live records of s as one chain, in a new database file in
// tmpDir (the caller removes tmpDir after closing the store): `audit
// list|show|export --archive DIR` and `warden trades|profit --archive DIR`
// read it as they read the live database. Every file the newest archive
// record lists must be in dir with its recorded SHA-256 (the chain's word
// on it); a missing, edited, truncated or swapped file is an error naming
// it, and nothing is read. Records kept in the database after archiving
// are the archived ones (verify checks their hashes); they are read once.
func (s *Store) WithArchives(ctx context.Context, dir, tmpDir string) (*Store, error) {
	if err := s.Flush(ctx); err != nil {
		return nil, err
	}
	ab, err := s.latestArchive(ctx, func(q string, args ...any) scanner { return s.queryRow(ctx, q, args...) })
	if err != nil {
		return nil, err
	}
	var files []ArchiveFile
	if ab != nil {
		files = ab.Files
	}
	path := filepath.Join(tmpDir, "merged.db")
	m, err := Open(ctx, path, Options{Scratch: true, Logger: s.log})
	if err != nil {
		return nil, err
	}
	defer m.Close()
	tx, err := m.wdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("audit: merge archives: %w", err)
	}
	defer tx.Rollback()
	ins, err := tx.PrepareContext(ctx, insertRecordSQL)
	if err != nil {
		return nil, fmt.Errorf("audit: merge archives: %w", err)
	}
	blob, err := tx.PrepareContext(ctx, insertBlobSQL)
	if err != nil {
		return nil, fmt.Errorf("audit: merge archives: %w", err)
	}
	put := func(r *archRecord) error {
		rec, prev, hash, err := r.toRecord()
		if err != nil {
			return err
		}
		_, err = ins.ExecContext(ctx, r.Seq, rec.kind, rec.at, rec.runID, rec.decisionID, rec.ref, rec.symbol, rec.state, rec.dedup, rec.parent, rec.due, rec.tokens, rec.body, prev, hash)
		return err
	}
	var next int64 = 1
	for _, af := range files {
		p := filepath.Join(dir, af.Name)
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("audit: archive %s (seqs %d..%d): %w", p, af.FirstSeq, af.LastSeq, err)
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != af.SHA256 || af.FirstSeq != next {
			return nil, fmt.Errorf("audit: archive %s is not the file the chain recorded (SHA-256 or range differ): run warden audit verify --archive %s", p, dir)
		}
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("audit: archive %s: %w", p, err)
		}
		dec := json.NewDecoder(zr)
		for {
			var l archiveLine
			if err := dec.Decode(&l); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return nil, fmt.Errorf("audit: archive %s: %w", p, err)
			}
			switch {
			case l.Record != nil:
				if err := put(l.Record); err != nil {
					return nil, fmt.Errorf("audit: archive %s seq %d: %w", p, l.Record.Seq, err)
				}
			case l.Blob != "":
				if _, err := blob.ExecContext(ctx, l.Blob, l.BlobCodec, l.BlobBody, 0); err != nil {
					return nil, fmt.Errorf("audit: archive %s blob %s: %w", p, l.Blob, err)
				}
			}
		}
		next = af.LastSeq + 1
	}
	rows, err := s.db.QueryContext(ctx, `SELECT seq, kind, at, run_id, decision_id, ref, symbol, state, dedup, parent, due, tokens, body, prev_hash, hash FROM records WHERE seq >= ? ORDER BY seq`, next)
	if err != nil {
		return nil, fmt.Errorf("audit: merge archives: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRaw(rows)
		if err == nil {
			err = put(r)
		}
		if err != nil {
			return nil, fmt.Errorf("audit: merge archives: live seq: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: merge archives: %w", err)
	}
	brows, err := s.db.QueryContext(ctx, `SELECT hash, codec, body, created_at FROM blobs ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("audit: merge archives: %w", err)
	}
	defer brows.Close()
	for brows.Next() {
		var (
			h, codec string
			body     []byte
			at       int64
		)
		if err := brows.Scan(&h, &codec, &body, &at); err != nil {
			return nil, fmt.Errorf("audit: merge archives: %w", err)
		}
		if _, err := blob.ExecContext(ctx, h, codec, body, at); err != nil {
			return nil, fmt.Errorf("audit: merge archives: blob %s: %w", h, err)
		}
	}
	if err := brows.Err(); err != nil {
		return nil, fmt.Errorf("audit: merge archives: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("audit: merge archives: %w", err)
	}
	if err := m.Close(); err != nil {
		return nil, err
	}
	return Open(ctx, path, Options{ReadOnly: true, Logger: s.log})
}
