package main

import (
	"database/sql"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// storeBytes is the size of warden.db and its WAL.
func storeBytes(t *testing.T, db string) int64 {
	t.Helper()
	var n int64
	for _, p := range []string{db, db + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// maxOfflineCycleBytes and maxLLMCycleBytes are the store's growth budget
// per hourly cycle (README "How big the store grows").
const (
	maxOfflineCycleBytes = 16 << 10
	maxLLMCycleBytes     = 24 << 10
)

// TestStoreGrowthPerOfflineCycle: 24 `run --once` on a fresh directory
// (the README's first command, a new process each) grow warden.db and its
// WAL by at most 16 KB a cycle on average.
func TestStoreGrowthPerOfflineCycle(t *testing.T) {
	t.Chdir(t.TempDir())
	const cycles = 24
	for i := 0; i < cycles; i++ {
		if code, out, errOut := runMain(t, "run", "--once"); code != 0 {
			t.Fatalf("cycle %d: run --once = %d\n%s\n%s", i, code, out, errOut)
		}
	}
	per := storeBytes(t, "warden.db") / cycles
	t.Logf("offline: %d bytes per cycle (database + WAL over %d run --once)", per, cycles)
	if per > maxOfflineCycleBytes {
		t.Errorf("%d bytes per offline cycle; want at most %d", per, maxOfflineCycleBytes)
	}
}

// TestStoreGrowthPerLLMCycle: 24 `run --once` against an OpenAI-compatible
// fake (real wire format, the recorded good answer) grow the store by at
// most 24 KB a cycle, not counting the response bodies.
func TestStoreGrowthPerLLMCycle(t *testing.T) {
	body, err := os.ReadFile(filepath.Join(openaiFixtures, "good.json"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	defer srv.Close()
	t.Chdir(t.TempDir())
	t.Setenv("WARDEN_TEST_SIZE_KEY", "sk-test-size-0123456789abcdef")
	cfg := "advisor:\n  kind: openai\n  openai: {base_url: " + srv.URL + "/v1, model: gpt-4o-mini, api_key_env: WARDEN_TEST_SIZE_KEY, max_retries: -1, timeout: 10s}\n"
	if err := os.WriteFile("warden.yaml", []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	const cycles = 24
	for i := 0; i < cycles; i++ {
		if code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml"); code != 0 {
			t.Fatalf("cycle %d: run --once = %d\n%s\n%s", i, code, out, errOut)
		}
	}
	db, err := sql.Open("sqlite3", "file:warden.db?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	// The response bodies: inline, or the stored (compressed) size of the
	// blob holding them.
	var calls, respBytes, reqBytes int64
	if err := db.QueryRow(`SELECT COUNT(*), COALESCE(SUM(LENGTH(json_extract(r.body, '$.response'))), 0) + COALESCE(SUM(LENGTH(b.body)), 0), COALESCE(SUM(LENGTH(r.body)), 0)
		FROM records r LEFT JOIN blobs b ON b.hash = json_extract(r.body, '$.response_blob') WHERE r.kind = 'llm_call' AND r.ref = 'openai'`).Scan(&calls, &respBytes, &reqBytes); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if calls != cycles {
		t.Fatalf("%d model calls in %d cycles; want one each", calls, cycles)
	}
	total := storeBytes(t, "warden.db")
	per := (total - respBytes) / cycles
	t.Logf("LLM: %d bytes per cycle without the response body (%d total, %d of response bodies, call records %d bytes each)", per, total, respBytes, reqBytes/calls)
	if per > maxLLMCycleBytes {
		t.Errorf("%d bytes per LLM cycle; want at most %d", per, maxLLMCycleBytes)
	}
}
