package main

import (
	"os"
	"strings"
	"testing"
)

// TestOperatorCommandsRedactConfigSecrets: a secret-shaped value — the
// model key from the config's environment variable — recorded in the
// database by a process that did not know it (a kill without --config)
// is redacted by every command that reads the database with --config:
// status (text and JSON), resume's own printout, trades, profit, review
// and the audit commands.
func TestOperatorCommandsRedactConfigSecrets(t *testing.T) {
	t.Chdir(t.TempDir())
	// Not shaped like any pattern the redactor masks by itself: only the
	// config's registration can hide it.
	const secret = "horse-battery-staple-7731-correct"
	t.Setenv("WARDEN_TEST_REDACT_MODEL_KEY", secret)
	os.WriteFile("warden.yaml", []byte(`db: warden.db
advisor:
  kind: openai
  openai: {model: gpt-4o, api_key_env: WARDEN_TEST_REDACT_MODEL_KEY}
`), 0o600)

	// The premise: without the config, kill does not know the value, and
	// prints and stores it as typed.
	code, out, errOut := runMain(t, "kill", "--db", "warden.db", "--create", "--reason", "key "+secret+" leaked in chat")
	if code != 0 || !strings.Contains(out, secret) {
		t.Fatalf("kill --db = %d; want the reason printed as typed (the value is not masked by pattern)\n%s\n%s", code, out, errOut)
	}
	raw, _ := os.ReadFile("warden.db")
	wal, _ := os.ReadFile("warden.db-wal")
	if !strings.Contains(string(raw)+string(wal), secret) {
		t.Fatal("the kill reason with the value is not in the database: the scenario no longer exercises read-side redaction")
	}

	// The premise for the audit commands: without --config they print
	// the value as stored.
	if code, out, errOut := runMain(t, "audit", "events", "--db", "warden.db"); code != 0 || !strings.Contains(out, secret) {
		t.Fatalf("audit events --db = %d; want the stored reason as typed\n%s\n%s", code, out, errOut)
	}

	for _, args := range [][]string{
		{"status", "--config", "warden.yaml"},
		{"status", "--config", "warden.yaml", "--json"},
		{"trades", "--config", "warden.yaml"},
		{"profit", "--config", "warden.yaml"},
		{"review", "--config", "warden.yaml", "--since", "3650d", "--json"},
		{"resume", "--config", "warden.yaml", "--reason", "rotated " + secret},
		{"status", "--config", "warden.yaml", "--json"}, // after the resume: its reason is on record too
		{"audit", "events", "--config", "warden.yaml"},  // the config's db, no --db
		{"audit", "events", "--config", "warden.yaml", "--db", "warden.db", "--json"},
	} {
		code, out, errOut := runMain(t, args...)
		if code != 0 {
			t.Fatalf("%v = %d\n%s\n%s", args, code, out, errOut)
		}
		if strings.Contains(out+errOut, secret) || strings.Contains(out+errOut, "staple-7731") {
			t.Fatalf("%v printed the config's secret:\n%s\n%s", args, out, errOut)
		}
		if args[0] == "status" || args[0] == "resume" || args[0] == "audit" {
			if !strings.Contains(out, "[REDACTED]") {
				t.Errorf("%v: want the reason shown with the value masked:\n%s", args, out)
			}
		}
	}
}
