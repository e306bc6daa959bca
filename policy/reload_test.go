package policy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReloader(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	pf := filepath.Join(dir, "policy.yaml")
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	src := string(DefaultSource())
	write("policy.yaml", src)
	write("policy_test.yaml", string(DefaultTestsSource()))

	r, err := NewReloader(ctx, pf, "", Limits{})
	if err != nil {
		t.Fatalf("NewReloader: %v", err)
	}
	first := r.Validator()
	if first.Policy().Hash() != mustDefault(t).Hash() {
		t.Fatalf("initial policy hash = %s; want the default's", first.Policy().Hash())
	}
	if changed, err := r.Reload(ctx); changed || err != nil {
		t.Errorf("Reload(unchanged) = %v, %v; want false, nil", changed, err)
	}

	// A file that does not compile is refused once; the old policy stays.
	write("policy.yaml", strings.Replace(src, "expr: market.known", "expr: market.known +", 1))
	changed, err := r.Reload(ctx)
	var re *ReloadError
	if changed || !errors.As(err, &re) || re.Revision == "" || !strings.Contains(err.Error(), "rule market_data") {
		t.Errorf("Reload(broken) = %v, %v; want a *ReloadError naming market_data", changed, err)
	}
	if r.Validator() != first {
		t.Errorf("a refused reload replaced the validator")
	}
	if changed, err := r.Reload(ctx); changed || err != nil {
		t.Errorf("Reload(same broken file again) = %v, %v; want false, nil (reported once)", changed, err)
	}

	// A file that loads but fails its tests is refused too.
	write("policy.yaml", strings.Replace(src, "max_position_pct: 2 ", "max_position_pct: 5 ", 1))
	changed, err = r.Reload(ctx)
	if changed || err == nil || !strings.Contains(err.Error(), "max_position - 3% of equity in one symbol") {
		t.Errorf("Reload(loosened cap) = %v, %v; want refused by the failing test", changed, err)
	}

	// A good change is taken.
	write("policy.yaml", strings.Replace(src, "name: warden-default", "name: warden-edited", 1))
	if changed, err := r.Reload(ctx); !changed || err != nil {
		t.Fatalf("Reload(good edit) = %v, %v; want true, nil", changed, err)
	}
	if r.Validator().Policy().Name() != "warden-edited" {
		t.Errorf("policy name = %s; want warden-edited", r.Validator().Policy().Name())
	}

	// A missing file is an error and keeps the policy.
	os.Remove(pf)
	if _, err := r.Reload(ctx); err == nil || r.Validator().Policy().Name() != "warden-edited" {
		t.Errorf("Reload(missing) = %v; want an error and the policy kept", err)
	}

	// Starting on a policy that fails its tests is refused.
	write("policy.yaml", strings.Replace(src, "max_position_pct: 2 ", "max_position_pct: 5 ", 1))
	if _, err := NewReloader(ctx, pf, "", Limits{}); err == nil {
		t.Errorf("NewReloader(policy failing its tests) = nil error; want refused")
	}
	// The embedded default needs no file.
	if r, err := NewReloader(ctx, "", "", Limits{}); err != nil || r.Validator() == nil {
		t.Errorf("NewReloader(default) = %v; want the default policy", err)
	}
}
