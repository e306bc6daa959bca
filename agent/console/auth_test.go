package console

import (
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

// TestTOTPWindow: a code is valid one step before and after now (clock
// skew), not two.
func TestTOTPWindow(t *testing.T) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "Warden", AccountName: "t"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2024, 1, 10, 12, 0, 10, 0, time.UTC)
	cur := now.Unix() / totpPeriod
	for _, c := range []struct {
		offset int64
		ok     bool
	}{{-2, false}, {-1, true}, {0, true}, {1, true}, {2, false}} {
		code, err := totp.GenerateCode(key.Secret(), time.Unix((cur+c.offset)*totpPeriod, 0))
		if err != nil {
			t.Fatal(err)
		}
		step, ok := totpStep(key.Secret(), code, now)
		if ok != c.ok || (ok && step != cur+c.offset) {
			t.Errorf("code of step %+d: step %d ok %v; want ok %v at step %d", c.offset, step, ok, c.ok, cur+c.offset)
		}
	}
	for _, bad := range []string{"", "12345", "1234567", "12345a", " 123456"} {
		if _, ok := totpStep(key.Secret(), bad, now); ok {
			t.Errorf("totpStep(%q) accepted", bad)
		}
	}
}

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q: want an argon2id PHC string with m=19456,t=2,p=1", h)
	}
	h2, _ := HashPassword("correct horse battery staple")
	if h == h2 {
		t.Error("two hashes of one password are equal: no random salt")
	}
	if !CheckPassword(h, "correct horse battery staple") {
		t.Error("the right password is refused")
	}
	parts := strings.Split(h, "$")
	for name, bad := range map[string]string{
		"wrong password":  "",
		"other algorithm": strings.Replace(h, "argon2id", "argon2i", 1),
		"huge memory":     strings.Replace(h, "m=19456", "m=99999999", 1),
		"zero passes":     strings.Replace(h, "t=2", "t=0", 1),
		"truncated":       strings.Join(parts[:5], "$"),
		"bad base64":      strings.Join(append(parts[:5:5], "!!!"), "$"),
	} {
		pw := "correct horse battery staple"
		if name == "wrong password" {
			bad, pw = h, "correct horse battery stapler"
		}
		if CheckPassword(bad, pw) {
			t.Errorf("%s: accepted", name)
		}
	}
}
