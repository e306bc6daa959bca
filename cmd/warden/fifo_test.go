package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPolicyOrConfigThatIsAFIFOIsRefused: a policy, policy tests or config
// path that is a named pipe is refused at once (reading it blocked the
// process for ever, deaf to SIGTERM); nothing is written.
func TestPolicyOrConfigThatIsAFIFOIsRefused(t *testing.T) {
	for _, c := range []struct{ name, config, fifo, want string }{
		{"policy", "policy: ./p.yaml\n", "p.yaml", "p.yaml is not a regular file"},
		{"policy tests", "policy: ./p.yaml\npolicy_tests: ./t.yaml\n", "t.yaml", "t.yaml is not a regular file"},
		{"config", "", "warden.yaml", "warden.yaml is not a regular file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			if c.fifo != "p.yaml" {
				if code, out, errOut := runMain(t, "policy", "init", "--out", "p.yaml"); code != exitOK {
					t.Fatalf("policy init = %d %s %s", code, out, errOut)
				}
				os.Remove("p_test.yaml")
			}
			if c.config != "" {
				if err := os.WriteFile("warden.yaml", []byte(c.config), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := syscall.Mkfifo(c.fifo, 0o600); err != nil {
				t.Skipf("mkfifo: %v", err)
			}
			done := make(chan struct{})
			var code int
			var out, errOut string
			go func() {
				defer close(done)
				code, out, errOut = runMain(t, "run", "--once", "--config", "warden.yaml")
			}()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatalf("run --once with a FIFO as its %s blocked", c.name)
			}
			if code != exitUsage || !strings.Contains(out+errOut, c.want) {
				t.Errorf("run --once with a FIFO as its %s = %d; want 2 and %q\n%s\n%s", c.name, code, c.want, out, errOut)
			}
			if _, err := os.Stat("warden.db"); err == nil {
				t.Errorf("a database was created")
			}
		})
	}
}
