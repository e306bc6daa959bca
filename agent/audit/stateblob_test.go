package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/warden-trading/warden/schemas"
)

// TestStateStoredInABlob: a long state (positions, books) is kept once,
// deflated, in blobs; the record holds its hash; LatestState,
// RecordedDecisions and Show give the state back as recorded; verify
// rehashes the blob and names the record when it is edited. A short state
// stays in the record.
func TestStateStoredInABlob(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s, path := openTest(t, Options{Clock: clk.Now})
	big := testState(clk.Now())
	for i := 0; i < 30; i++ {
		big.Account.Positions[fmt.Sprintf("C%02d/USDT", i)] = schemas.Position{Qty: dec("1.5"), AvgPrice: dec(fmt.Sprintf("%d.25", 100+i))}
	}
	want, _ := json.Marshal(big)
	if len(want) < minDynBlob {
		t.Fatalf("test state is only %d bytes", len(want))
	}
	if err := s.BeginRun(ctx, Run{ID: "r1", Mode: "paper", Advisor: "baseline"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordVerdicts(ctx, "r1", "pol", big, testVerdicts()[:1]); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	var body string
	if err := db.QueryRow(`SELECT body FROM records WHERE kind = 'state'`).Scan(&body); err != nil {
		t.Fatal(err)
	}
	if len(body) > 100 || body[:len(stateBlobPrefix)] != string(stateBlobPrefix) {
		t.Fatalf("state record body = %.200s; want a blob reference", body)
	}
	var codec string
	var stored []byte
	if err := db.QueryRow(`SELECT codec, body FROM blobs WHERE hash = json_extract(?, '$.state_blob')`, body).Scan(&codec, &stored); err != nil {
		t.Fatal(err)
	}
	if codec != "deflate" || len(stored) >= len(want) {
		t.Errorf("state blob: codec %q, %d bytes for %d; want deflated", codec, len(stored), len(want))
	}
	got, ok, err := s.LatestState(ctx)
	gotJSON, _ := json.Marshal(got)
	if err != nil || !ok || string(gotJSON) != string(want) {
		t.Errorf("LatestState = %v, %v; want the recorded state", ok, err)
	}
	decs, err := s.RecordedDecisions(ctx, clk.Now().Add(-1))
	if err != nil || len(decs) != 1 {
		t.Fatalf("RecordedDecisions = %d, %v", len(decs), err)
	}
	if b, _ := json.Marshal(decs[0].State); string(b) != string(want) {
		t.Errorf("RecordedDecisions state differs from the recorded one")
	}
	story, err := s.Show(ctx, "r1:0")
	if err != nil || len(story.Decisions) != 1 || string(story.Decisions[0].State) != string(want) {
		t.Fatalf("Show state: %v; want the state's JSON byte for byte", err)
	}
	if rep, err := s.Verify(ctx); err != nil || !rep.OK {
		t.Fatalf("Verify = %+v, %v", rep, err)
	}
	// A short state stays in its record.
	if err := s.BeginRun(ctx, Run{ID: "r2", Mode: "paper", Advisor: "baseline"}); err != nil {
		t.Fatal(err)
	}
	small := schemas.State{Now: clk.Now(), Mode: "paper", Account: schemas.Account{Quote: "USDT", Equity: dec("1"), Cash: dec("1")}}
	if _, err := s.RecordVerdicts(ctx, "r2", "pol", small, testVerdicts()[:1]); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM records WHERE kind = 'state' AND body LIKE '{"state_blob"%'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("states in blobs = %d, %v; want only the long one", n, err)
	}
	// An edited state blob: verify names the state record.
	edited := append([]byte(nil), stored...)
	if _, err := db.Exec(`DROP TRIGGER blobs_no_update`); err != nil {
		t.Fatal(err)
	}
	edited[len(edited)/2] ^= 1
	if _, err := db.Exec(`UPDATE blobs SET body = ? WHERE hash = json_extract(?, '$.state_blob')`, edited, body); err != nil {
		t.Fatal(err)
	}
	rep, err := s.Verify(ctx)
	if err != nil || rep.OK || rep.Broken == nil || rep.Broken.Kind != KindState {
		t.Errorf("Verify after editing the state blob = %+v, %v; want a break at the state record", rep, err)
	}
}
