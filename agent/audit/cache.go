package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// CachedResponse returns the model response cached under key (a hash of
// model and prompt, computed by the caller); ok is false on a miss.
func (s *Store) CachedResponse(ctx context.Context, key string) (body []byte, ok bool, err error) {
	var blob string
	err = s.queryRow(ctx, `SELECT body, blob FROM llm_cache WHERE key = ?`, key).Scan(&body, &blob)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("audit: cached response %s: %w", key, err)
	}
	if blob != "" {
		if body, err = s.readBlob(ctx, blob); err != nil {
			return nil, false, fmt.Errorf("audit: cached response %s: %w", key, err)
		}
		if blobHash(body) != blob {
			return nil, false, fmt.Errorf("audit: cached response %s: blob %s does not match its hash", key, blob)
		}
	}
	return body, true, nil
}

// PutCachedResponse caches body under key. The first body stored for a key
// stays: a second put of the same key is a no-op. The body is redacted like
// every other record.
func (s *Store) PutCachedResponse(ctx context.Context, key, model string, body []byte) error {
	if key == "" {
		return errors.New("audit: cache put with empty key")
	}
	if s.ro {
		return errReadOnly
	}
	if s.redact != nil {
		body = []byte(s.redact(string(body)))
		model = s.redact(model)
	}
	err := s.lockWriter()
	defer s.wmu.Unlock()
	if err != nil {
		return err
	}
	if len(body) < minBlob {
		_, err := s.wdb.ExecContext(ctx, `INSERT INTO llm_cache (key, model, body, created_at) VALUES (?, ?, ?, ?) `, key, model, body, s.now())
		if err != nil {
			return fmt.Errorf("audit: cache put %s: %w", key, err)
		}
		return nil
	}
	// A body many keys share (a model that answers the same to different
	// prompts) is stored once, in blobs.
	h := blobHash(body)
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("audit: cache put %s: %w", key, err)
	}
	defer tx.Rollback()
	if !s.blobs[h] {
		codec, stored := s.encodeBlob(body)
		if _, err := tx.ExecContext(ctx, insertBlobSQL, h, codec, stored, s.now()); err != nil {
			return fmt.Errorf("audit: cache put %s: %w", key, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO llm_cache (key, model, body, created_at, blob) VALUES (?, ?, x'', ?, ?)`, key, model, s.now(), h); err != nil {
		return fmt.Errorf("audit: cache put %s: %w", key, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("audit: cache put %s: %w", key, err)
	}
	if s.blobs == nil {
		s.blobs = map[string]bool{}
	}
	s.blobs[h] = true
	return nil
}
