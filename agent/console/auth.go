package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/crypto/argon2"
	"golang.org/x/time/rate"

	"github.com/warden-trading/warden/agent/audit"
)

// Password hashing: argon2id with OWASP's minimum parameters (19 MiB,
// two passes, one lane), a 16-byte random salt and a 32-byte key, stored
// as a PHC string so the parameters can be raised later.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
	// MinPasswordLen is the shortest password user add accepts.
	MinPasswordLen = 12
	// MaxPasswordLen bounds the work of one hash.
	MaxPasswordLen = 256
	totpPeriod     = 30
)

// HashPassword returns the argon2id PHC string of password.
func HashPassword(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// CheckPassword reports whether password matches the PHC string hash.
func CheckPassword(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return false
	}
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || m > 1<<20 || t == 0 || t > 16 || p == 0 {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 || len(password) > MaxPasswordLen {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is compared against when the user does not exist, so an
// unknown name takes as long as a wrong password.
var dummyHash = func() string {
	h, _ := HashPassword("not a password of anyone")
	return h
}()

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,31}$`)

// ValidName checks a user name: lower-case letters, digits, '_', '.', '-',
// starting with a letter, at most 32 characters.
func ValidName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("user name %q: use 1-32 lower-case letters, digits, '_', '.' or '-', starting with a letter", name)
	}
	return nil
}

// Enrolment is what a new (or re-enrolled) user needs for their
// authenticator app.
type Enrolment struct {
	User   string
	Secret string // base32
	URI    string // otpauth://totp/...
}

func newTOTP(name string) (Enrolment, error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "Warden", AccountName: name, Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return Enrolment{}, err
	}
	return Enrolment{User: name, Secret: key.Secret(), URI: key.URL()}, nil
}

// AddUser creates a console user with role viewer or operator and returns
// the TOTP enrolment. actor is who ran the command (recorded).
func AddUser(ctx context.Context, st *audit.Store, name, role, password, actor string) (Enrolment, error) {
	if err := ValidName(name); err != nil {
		return Enrolment{}, err
	}
	if role != RoleViewer && role != RoleOperator {
		return Enrolment{}, fmt.Errorf("role %q: want viewer or operator", role)
	}
	if n := len([]rune(password)); n < MinPasswordLen {
		return Enrolment{}, fmt.Errorf("password too short: %d characters, at least %d", n, MinPasswordLen)
	}
	if len(password) > MaxPasswordLen {
		return Enrolment{}, fmt.Errorf("password too long: at most %d bytes", MaxPasswordLen)
	}
	hash, err := HashPassword(password)
	if err != nil {
		return Enrolment{}, err
	}
	e, err := newTOTP(name)
	if err != nil {
		return Enrolment{}, err
	}
	if err := st.AddConsoleUser(ctx, audit.ConsoleUser{Name: name, Role: role, PasswordHash: hash, TOTPSecret: e.Secret}, actor); err != nil {
		return Enrolment{}, err
	}
	return e, nil
}

// ResetTOTP gives the user a new TOTP secret (their sessions end) and
// returns the enrolment.
func ResetTOTP(ctx context.Context, st *audit.Store, name, actor string) (Enrolment, error) {
	e, err := newTOTP(name)
	if err != nil {
		return Enrolment{}, err
	}
	if err := st.ResetConsoleTOTP(ctx, name, e.Secret, actor); err != nil {
		return Enrolment{}, err
	}
	return e, nil
}

var codeRE = regexp.MustCompile(`^[0-9]{6}$`)

// totpStep returns the time step (one before, now, one after: clock skew)
// at which code is valid for secret; ok is false when it is valid at none.
func totpStep(secret, code string, now time.Time) (step int64, ok bool) {
	if !codeRE.MatchString(code) {
		return 0, false
	}
	cur := now.Unix() / totpPeriod
	for _, st := range []int64{cur - 1, cur, cur + 1} {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(st*totpPeriod, 0), totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return st, true
		}
	}
	return 0, false
}

// checkTOTP accepts code for u once: valid now and at a later step than
// any code u used before (stored, so a replay fails in any process).
func (s *Server) checkTOTP(ctx context.Context, u audit.ConsoleUser, code string) (ok bool, why string, err error) {
	step, valid := totpStep(u.TOTPSecret, code, s.now())
	if !valid {
		return false, "wrong TOTP code", nil
	}
	fresh, err := s.st.UseConsoleTOTPStep(ctx, u.Name, step)
	if err != nil {
		return false, "", err
	}
	if !fresh {
		return false, whyReused, nil
	}
	return true, "", nil
}

// whyReused is checkTOTP's answer to a right code used before.
const whyReused = "TOTP code already used"

// Sessions.

func (s *Server) cookieName() string {
	if s.opt.TLS {
		return "__Host-warden_session"
	}
	return "warden_session"
}

func hashID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

func newSessionID() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// session returns the request's signed-in user, or nil. An expired
// session (idle or absolute timeout) is ended and recorded.
func (s *Server) session(r *http.Request) (*user, error) {
	c, err := r.Cookie(s.cookieName())
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return nil, nil
	}
	h := hashID(c.Value)
	cs, ok, err := s.st.ConsoleSessionByHash(r.Context(), h)
	if err != nil || !ok {
		return nil, err
	}
	now := s.now()
	if now.Sub(cs.LastSeen) > s.opt.IdleTimeout || now.Sub(cs.CreatedAt) > s.opt.AbsoluteTimeout {
		if err := s.st.EndConsoleSession(r.Context(), h, "expired", remote(r)); err != nil {
			return nil, err
		}
		return nil, nil
	}
	// The status page's own refresh (refresh.js) is not activity: a tab
	// left open still reaches the idle timeout.
	auto := r.Method == http.MethodGet && r.URL.RawQuery == "auto=1"
	if now.Sub(cs.LastSeen) > time.Minute && !auto {
		if err := s.st.TouchConsoleSession(r.Context(), h); err != nil {
			return nil, err
		}
	}
	return &user{Name: cs.User, Role: cs.Role, idHash: h}, nil
}

func (s *Server) setCookie(w http.ResponseWriter, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name:     s.cookieName(),
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		Secure:   s.opt.TLS,
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	})
}

// Rate limits.

// allowLogin reports whether a login attempt from addr is within the rate;
// a refusal is recorded at most once a minute per address.
func (s *Server) allowLogin(ctx context.Context, addr string) (bool, error) {
	s.mu.Lock()
	e, ok := s.loginLimits[addr]
	if !ok {
		if len(s.loginLimits) > 10000 { // bounded memory under a flood of addresses
			clear(s.loginLimits)
		}
		e = &limiterEntry{lim: rate.NewLimiter(s.opt.LoginRate, s.opt.LoginBurst)}
		s.loginLimits[addr] = e
	}
	now := s.now()
	allowed := e.lim.AllowN(now, 1)
	record := !allowed && now.Sub(e.lastAudit) >= time.Minute
	if record {
		e.lastAudit = now
	}
	s.mu.Unlock()
	if record {
		return false, s.st.RecordConsoleEvent(ctx, audit.EventConsoleLogin, "rate_limited", audit.ConsoleEvent{Remote: addr, Reason: "too many login attempts"})
	}
	return allowed, nil
}

func (s *Server) allowAction(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.actionLimits[name]
	if !ok {
		l = rate.NewLimiter(s.opt.ActionRate, s.opt.ActionBurst)
		s.actionLimits[name] = l
	}
	return l.AllowN(s.now(), 1)
}

// errLogin is the one message a failed login shows, whatever failed.
const errLogin = "wrong user name, password or TOTP code"

// login handles POST /login: username, password, totp.
func (s *Server) login(w http.ResponseWriter, r *http.Request, _ *user) error {
	ctx := r.Context()
	addr := remote(r)
	ok, err := s.allowLogin(ctx, addr)
	if err != nil {
		return err
	}
	if !ok {
		w.Header().Set("Retry-After", "60")
		return &httpError{http.StatusTooManyRequests, "too many login attempts from your address; wait a minute"}
	}
	if err := parseForm(r, "username", "password", "totp"); err != nil {
		return err
	}
	name, password, code := r.PostForm.Get("username"), r.PostForm.Get("password"), r.PostForm.Get("totp")
	if name == "" || password == "" || code == "" {
		return badRequest("username, password and totp are all required")
	}
	if ValidName(name) != nil || len(password) > MaxPasswordLen {
		CheckPassword(dummyHash, password)
		if err := s.st.RecordConsoleEvent(ctx, audit.EventConsoleLogin, "failed", audit.ConsoleEvent{Remote: addr, Reason: "invalid user name"}); err != nil {
			return err
		}
		return &httpError{http.StatusUnauthorized, errLogin}
	}
	u, found, err := s.st.ConsoleUserByName(ctx, name)
	if err != nil {
		return err
	}
	if !found {
		CheckPassword(dummyHash, password)
		// The name typed is not kept (it may be a password typed in the
		// wrong field, and the chain keeps what it is given for good):
		// only a fingerprint, to tell repeated tries of one name apart.
		sum := sha256.Sum256([]byte(name))
		if err := s.st.RecordConsoleEvent(ctx, audit.EventConsoleLogin, "failed", audit.ConsoleEvent{Remote: addr, Reason: "unknown user (name not recorded; sha256 " + hex.EncodeToString(sum[:6]) + ")"}); err != nil {
			return err
		}
		return &httpError{http.StatusUnauthorized, errLogin}
	}
	// A lockout is told only to someone who gives the right password and
	// code: to anyone else a locked account answers as an unknown name
	// does, so the lockout reveals no user name.
	why := ""
	if !CheckPassword(u.PasswordHash, password) {
		why = "wrong password"
	} else if now := s.now(); u.LockedUntil.After(now) {
		if err := s.st.RecordConsoleEvent(ctx, audit.EventConsoleLogin, "failed", audit.ConsoleEvent{User: name, Remote: addr, Reason: "locked"}); err != nil {
			return err
		}
		w.Header().Set("Retry-After", strconv.Itoa(int(u.LockedUntil.Sub(now).Seconds())+1))
		if ok, _, err := s.checkTOTP(ctx, u, code); err != nil {
			return err
		} else if ok {
			return &httpError{http.StatusTooManyRequests, "this account is locked after repeated failures until " + u.LockedUntil.UTC().Format(time.RFC3339)}
		}
		return &httpError{http.StatusUnauthorized, errLogin}
	} else if ok, w2, err := s.checkTOTP(ctx, u, code); err != nil {
		return err
	} else if !ok {
		why = w2
	}
	if why != "" {
		if u.LockedUntil.After(s.now()) {
			// Locked already: recorded, not counted again.
			if err := s.st.RecordConsoleEvent(ctx, audit.EventConsoleLogin, "failed", audit.ConsoleEvent{User: name, Remote: addr, Reason: "locked"}); err != nil {
				return err
			}
			return &httpError{http.StatusUnauthorized, errLogin}
		}
		if _, err := s.st.ConsoleLoginFailed(ctx, name, addr, why, s.opt.MaxFailures, s.opt.Lockout); err != nil {
			return err
		}
		return &httpError{http.StatusUnauthorized, errLogin}
	}
	id, err := newSessionID()
	if err != nil {
		return err
	}
	old := ""
	if c, err := r.Cookie(s.cookieName()); err == nil && c.Value != "" && len(c.Value) <= 100 {
		old = hashID(c.Value)
	}
	if err := s.st.ConsoleLoginOK(ctx, name, hashID(id), old, addr); err != nil {
		return err
	}
	s.setCookie(w, id, int(s.opt.AbsoluteTimeout.Seconds()))
	http.Redirect(w, r, "/status", http.StatusSeeOther)
	return nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, u *user) error {
	if err := parseForm(r); err != nil {
		return err
	}
	if err := s.st.EndConsoleSession(r.Context(), u.idHash, "logout", remote(r)); err != nil {
		return err
	}
	s.setCookie(w, "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request, u *user) error {
	s.render(w, http.StatusOK, "login", u, nil)
	return nil
}

// stepUp checks the fresh TOTP code an action needs; wrong codes count as
// failed logins (and lock the account at the limit, which ends its
// sessions); a right code used before is refused without counting.
func (s *Server) stepUp(ctx context.Context, u *user, code, addr string) error {
	cu, found, err := s.st.ConsoleUserByName(ctx, u.Name)
	if err != nil {
		return err
	}
	if !found {
		return &httpError{http.StatusUnauthorized, "sign in first"}
	}
	ok, why, err := s.checkTOTP(ctx, cu, code)
	if err != nil {
		return err
	}
	if ok {
		return nil
	}
	if why == whyReused {
		// The signed-in user's own code, still on their authenticator
		// (typically the one they just signed in with): a right code is
		// no failure, and counting it locked an operator out of the kill
		// switch in the half minute after signing in.
		wait := totpPeriod - s.now().Unix()%totpPeriod
		return &httpError{http.StatusForbidden, fmt.Sprintf("this code was already used (a code works once): the next one comes in %d s", wait)}
	}
	locked, err := s.st.ConsoleLoginFailed(ctx, u.Name, addr, "step-up: "+why, s.opt.MaxFailures, s.opt.Lockout)
	if err != nil {
		return err
	}
	if locked {
		return &httpError{http.StatusTooManyRequests, fmt.Sprintf("too many failures: this account is locked for %s", s.opt.Lockout)}
	}
	return &httpError{http.StatusForbidden, "this action needs a fresh TOTP code: " + why + " (a code works once; wait for the next one)"}
}

// parseForm parses a form POST strictly: only the named fields, each at
// most once, and no query parameters (400 otherwise, as for JSON bodies).
func parseForm(r *http.Request, fields ...string) error {
	if err := r.ParseForm(); err != nil {
		return formErr(err)
	}
	for k := range r.URL.Query() {
		return badRequest("unknown parameter %q", k)
	}
	for k, vs := range r.PostForm {
		if !slices.Contains(fields, k) {
			return badRequest("unknown field %q", k)
		}
		if len(vs) > 1 {
			return badRequest("field %q given %d times", k, len(vs))
		}
	}
	return nil
}

func formErr(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return err
	}
	return badRequest("malformed form: %v", err)
}
