package audit

import (
	"context"
	"encoding/json"
	"fmt"
)

// Paper account persistence: a checkpoint (the whole account, state
// "checkpoint"; older databases hold full snapshots with state "") and,
// after it, deltas (state "delta") of what changed at each cycle. Neither
// holds market data: a restarted paper account is given its candles by its
// feed again.

// SavePaperCheckpoint appends a checkpoint of the paper account: the whole
// account, after which LatestPaperState and PaperStateChain start.
func (s *Store) SavePaperCheckpoint(ctx context.Context, blob []byte) error {
	return s.savePaper(ctx, blob, "checkpoint")
}

// SavePaperDelta appends what changed in the paper account since the
// previous checkpoint or delta.
func (s *Store) SavePaperDelta(ctx context.Context, blob []byte) error {
	return s.savePaper(ctx, blob, "delta")
}

func (s *Store) savePaper(ctx context.Context, blob []byte, state string) error {
	var ps paperState
	if json.Valid(blob) {
		ps.JSON = blob
	} else {
		ps.Bytes = blob
	}
	body, err := marshal(ps)
	if err != nil {
		return err
	}
	return s.appendRecords(ctx, false, &record{kind: KindPaperState, at: s.now(), state: state, body: body})
}

// PaperStateChain returns the newest checkpoint of the paper account and
// every delta saved after it, oldest first; ok is false when no
// checkpoint was saved.
func (s *Store) PaperStateChain(ctx context.Context) (checkpoint []byte, deltas [][]byte, ok bool, err error) {
	var (
		seq  int64
		body []byte
	)
	err = s.queryRow(ctx, `SELECT seq, body FROM records WHERE kind = 'paper_state' AND state <> 'delta' ORDER BY seq DESC LIMIT 1`).Scan(&seq, &body)
	if isNoRows(err) {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, fmt.Errorf("audit: read paper state: %w", err)
	}
	if checkpoint, err = decodePaperState(body); err != nil {
		return nil, nil, false, err
	}
	rows, err := s.query(ctx, `SELECT body FROM records WHERE kind = 'paper_state' AND seq > CAST(? AS INTEGER) ORDER BY seq`, seq)
	if err != nil {
		return nil, nil, false, fmt.Errorf("audit: read paper deltas: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := rows.Scan(&body); err != nil {
			return nil, nil, false, fmt.Errorf("audit: read paper deltas: %w", err)
		}
		d, err := decodePaperState(body)
		if err != nil {
			return nil, nil, false, err
		}
		deltas = append(deltas, d)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, false, fmt.Errorf("audit: read paper deltas: %w", err)
	}
	return checkpoint, deltas, true, nil
}

func decodePaperState(body []byte) ([]byte, error) {
	var ps paperState
	if err := json.Unmarshal(body, &ps); err != nil {
		return nil, fmt.Errorf("audit: decode paper state: %w", err)
	}
	if ps.JSON != nil {
		return []byte(ps.JSON), nil
	}
	if ps.Bytes == nil {
		ps.Bytes = []byte{}
	}
	return ps.Bytes, nil
}
