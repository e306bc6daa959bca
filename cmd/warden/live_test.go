package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/executor/ccxtx/fakebinance"
)

const (
	fakeKey    = "live-test-key-CANARY-0123456789"
	fakeSecret = "live-test-secret-CANARY-9876543210"
)

func startFakeBinance(t *testing.T, opts fakebinance.Options) (*fakebinance.Server, string) {
	t.Helper()
	opts.APIKey, opts.Secret = fakeKey, fakeSecret
	fake, err := fakebinance.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(fake)
	t.Cleanup(func() { fake.Close(); srv.Close() })
	return fake, srv.URL
}

// TestPaperOnLivePublicData: paper trading fed by the exchange's public
// candles through the real ccxt client, no keys.
func TestPaperOnLivePublicData(t *testing.T) {
	_, url := startFakeBinance(t, fakebinance.Options{})
	t.Chdir(t.TempDir())
	os.WriteFile("warden.yaml", []byte("paper: {data: live}\nexchange: {base_url: "+url+"}\n"), 0o600)
	code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml")
	if code != 0 {
		t.Fatalf("paper on live data = exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "verdicts:") {
		t.Fatalf("no verdicts from a paper run on live data:\n%s", out)
	}
}

// TestLiveRunAgainstFakeBinance is the whole live path: both switches,
// keys from the environment, the key-permission check, the real ccxt
// Binance class signing requests to a local fake. The secret must not be
// in the output, the logs or the database.
func TestLiveRunAgainstFakeBinance(t *testing.T) {
	fake, url := startFakeBinance(t, fakebinance.Options{})
	t.Chdir(t.TempDir())
	t.Setenv("WARDEN_API_KEY", fakeKey)
	t.Setenv("WARDEN_API_SECRET", fakeSecret)
	os.WriteFile("warden.yaml", []byte("mode: live\nexchange: {base_url: "+url+"}\n"), 0o600)

	code, out, errOut := runMain(t, "run", "--once", "--live", "--config", "warden.yaml", "--log-level", "debug")
	if code != 0 {
		t.Fatalf("live run = exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "verdicts:") || strings.Contains(errOut, "paper trading") {
		t.Fatalf("no verdicts from the live run, or it fell back to paper:\n%s\n%s", out, errOut)
	}
	for cid, n := range fake.Duplicates() {
		t.Errorf("client order id %s placed %d times", cid, n)
	}
	db, _ := os.ReadFile("warden.db")
	wal, _ := os.ReadFile("warden.db-wal")
	for what, b := range map[string][]byte{"stdout": []byte(out), "stderr": []byte(errOut), "db": db, "wal": wal} {
		if bytes.Contains(b, []byte(fakeSecret)) || bytes.Contains(b, []byte(fakeKey)) {
			t.Errorf("the API key or secret is in %s", what)
		}
	}
	st, err := audit.Open(context.Background(), "warden.db", audit.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, _ := st.List(context.Background(), audit.Filter{})
	if len(rows) == 0 {
		t.Fatal("the live run recorded no decision")
	}
}

func TestLiveRefusesAKeyThatCanWithdraw(t *testing.T) {
	_, url := startFakeBinance(t, fakebinance.Options{Restrictions: &fakebinance.Restrictions{
		EnableReading: true, EnableSpotAndMarginTrading: true, EnableWithdrawals: true,
	}})
	t.Chdir(t.TempDir())
	t.Setenv("WARDEN_API_KEY", fakeKey)
	t.Setenv("WARDEN_API_SECRET", fakeSecret)
	os.WriteFile("warden.yaml", []byte("mode: live\nexchange: {base_url: "+url+"}\n"), 0o600)
	code, out, errOut := runMain(t, "run", "--once", "--live", "--config", "warden.yaml")
	if code != exitUsage || !strings.Contains(errOut, "withdraw") {
		t.Fatalf("live run with a withdrawal-enabled key = %d\n%s\n%s; want a refusal", code, out, errOut)
	}
	if strings.Contains(out+errOut, fakeSecret) {
		t.Fatal("the secret is in the refusal")
	}
}

// TestLiveKeyFile: keys may come from an owner-only file (never the
// config); a file others can read is refused, and a key read from the file
// is redacted from the database like one from the environment.
func TestLiveKeyFile(t *testing.T) {
	_, url := startFakeBinance(t, fakebinance.Options{})
	t.Chdir(t.TempDir())
	t.Setenv("WARDEN_API_KEY", "")
	t.Setenv("WARDEN_API_SECRET", "")
	os.WriteFile("key.yaml", []byte("api_key: "+fakeKey+"\nsecret: "+fakeSecret+"\n"), 0o644)
	os.WriteFile("warden.yaml", []byte("mode: live\nexchange: {base_url: "+url+", credentials_file: key.yaml}\n"), 0o600)
	if code, _, errOut := runMain(t, "run", "--once", "--live", "--config", "warden.yaml"); code != exitUsage || !strings.Contains(errOut, "key.yaml") {
		t.Fatalf("live run with a world-readable key file = %d %q; want a refusal naming the file", code, errOut)
	}
	os.Chmod("key.yaml", 0o600)
	code, out, errOut := runMain(t, "run", "--once", "--live", "--config", "warden.yaml")
	if code != 0 || !strings.Contains(out, "verdicts:") {
		t.Fatalf("live run with a 0600 key file = %d\n%s\n%s", code, out, errOut)
	}
	db, _ := os.ReadFile("warden.db")
	wal, _ := os.ReadFile("warden.db-wal")
	if bytes.Contains(append(db, wal...), []byte(fakeSecret)) {
		t.Fatal("the secret from the key file is in the database")
	}
}
