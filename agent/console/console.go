// Package console owns `warden ui`: a web console to read the audit log
// (status, decisions with their rationale and every rule's result, runs,
// events, the policy, the chain) and to engage or release the kill switch.
//
// It is built to the OWASP API Security Top 10 (2023): users are created
// from the CLI only (argon2id passwords, TOTP), a login needs the password
// and a single-use TOTP code, sessions are server-side in the audit store
// (ids rotated at login, idle and absolute timeouts), every route checks
// the role it needs, actions need a fresh TOTP code (step-up), state
// changes pass http.CrossOriginProtection, logins and actions are rate
// limited with a lockout, every login, failure, lockout and action is an
// audit record, responses carry security headers (CSP without inline
// script) and pass through the shared redactor.
//
// It reads through agent/audit and writes only its sessions, users and the
// records of logins and actions; it never imports the executor. Its status
// is agent/status's, the same as `warden status` (which rebuilds a paper
// account in memory; no exchange is called).
package console

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"
	"golang.org/x/time/rate"

	"github.com/warden-trading/warden/agent/approval"
	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/redact"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Defaults of Options.
const (
	DefaultIdleTimeout     = 15 * time.Minute
	DefaultAbsoluteTimeout = 8 * time.Hour
	DefaultMaxFailures     = 5
	DefaultLockout         = 15 * time.Minute
	// MaxBodyBytes caps every request body (forms and JSON).
	MaxBodyBytes = 16 << 10
)

// PolicyInfo is the policy in force as the console shows it.
type PolicyInfo struct {
	Name   string
	File   string
	Hash   string
	Rules  []RuleInfo
	Source string
}

// RuleInfo is one rule in words.
type RuleInfo struct {
	Name  string `json:"name"`
	Words string `json:"words"`
}

// Options configure a Server.
type Options struct {
	Store *audit.Store
	// Policy is the policy in force (the one warden run loads).
	Policy PolicyInfo
	// Channels are the notification channels actions are announced on
	// (slack, telegram); none: actions are only recorded.
	Channels []string
	// TLS: cookies are Secure (and __Host- prefixed), HSTS is sent.
	TLS bool
	// Redactor is the process's one redactor; every response passes
	// through it.
	Redactor *redact.Redactor
	Logger   *slog.Logger
	Now      func() time.Time
	// Status configures the status page's figures (the same as `warden
	// status`): the config's mode, schedule and reduce scale, and whether
	// the clock is the offline replay's.
	Status StatusConfig
	// Approvals is human approval's gate (agent/approval) the console
	// records approvals and denials through; nil: approval is off (the
	// page says so and the approve/deny requests answer 409).
	Approvals *approval.Gate

	IdleTimeout     time.Duration // default DefaultIdleTimeout
	AbsoluteTimeout time.Duration // default DefaultAbsoluteTimeout
	MaxFailures     int           // failed logins in a row before a lockout; default DefaultMaxFailures
	Lockout         time.Duration // default DefaultLockout
	// LoginRate and LoginBurst limit login attempts per client address
	// (default one every 6 s, burst 5); ActionRate and ActionBurst limit
	// actions per user (default one every 10 s, burst 3).
	LoginRate   rate.Limit
	LoginBurst  int
	ActionRate  rate.Limit
	ActionBurst int
}

// StatusConfig is what the status page needs from the config besides the
// policy (Options.Policy: its params are the limits).
type StatusConfig struct {
	Mode     string
	Schedule string
	// ReduceScale shrinks the caps below the active level
	// (breakers.reduce_scale); zero: 1.
	ReduceScale decimal.Decimal
	// ReplayClock: the offline paper replay, whose cycles live at their
	// candles' times; the status is read as of the last run, as `warden
	// status` reads it.
	ReplayClock bool
	// ReplayStep is the timeframe's candle: on the replay's clock the next
	// run decides one candle after the last (status.Input.ReplayStep).
	ReplayStep time.Duration
}

// Server is the console's HTTP handler.
type Server struct {
	opt     Options
	st      *audit.Store
	log     *slog.Logger
	now     func() time.Time
	red     *redact.Redactor
	pages   map[string]*template.Template
	handler http.Handler
	routes  []route

	vmu        sync.Mutex // serialises chain verification (audit page)
	verified   audit.VerifyReport
	verifiedAt time.Time

	mu           sync.Mutex
	loginLimits  map[string]*limiterEntry
	actionLimits map[string]*rate.Limiter
}

type limiterEntry struct {
	lim       *rate.Limiter
	lastAudit time.Time
}

// role orders what a request may do.
type role int

const (
	rolePublic role = iota
	roleViewer
	roleOperator
)

func roleOf(s string) role {
	switch s {
	case "operator":
		return roleOperator
	case "viewer":
		return roleViewer
	}
	return rolePublic
}

// Roles a console user may have.
const (
	RoleViewer   = "viewer"
	RoleOperator = "operator"
)

// route is one endpoint with the role it needs.
type route struct {
	method, pattern string
	need            role
	api             bool
	h               func(w http.ResponseWriter, r *http.Request, u *user) error
}

// user is the signed-in user of a request.
type user struct {
	Name   string
	Role   string
	idHash string
}

func (u *user) Operator() bool { return u != nil && u.Role == RoleOperator }

// New checks opts and returns a Server.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("console: Options.Store is nil")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Redactor == nil {
		opts.Redactor = redact.New()
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opts.IdleTimeout, DefaultIdleTimeout)
	def(&opts.AbsoluteTimeout, DefaultAbsoluteTimeout)
	def(&opts.Lockout, DefaultLockout)
	if opts.MaxFailures <= 0 {
		opts.MaxFailures = DefaultMaxFailures
	}
	if opts.LoginRate <= 0 {
		opts.LoginRate = rate.Every(6 * time.Second)
	}
	if opts.LoginBurst <= 0 {
		opts.LoginBurst = 5
	}
	if opts.ActionRate <= 0 {
		opts.ActionRate = rate.Every(10 * time.Second)
	}
	if opts.ActionBurst <= 0 {
		opts.ActionBurst = 3
	}
	for _, c := range opts.Channels {
		if c != "slack" && c != "telegram" {
			return nil, fmt.Errorf("console: unknown notification channel %q", c)
		}
	}
	s := &Server{
		opt:          opts,
		st:           opts.Store,
		log:          opts.Logger,
		now:          opts.Now,
		red:          opts.Redactor,
		loginLimits:  map[string]*limiterEntry{},
		actionLimits: map[string]*rate.Limiter{},
	}
	if err := s.parseTemplates(); err != nil {
		return nil, err
	}
	s.routes = s.routeTable()
	mux := http.NewServeMux()
	for _, rt := range s.routes {
		mux.Handle(rt.method+" "+rt.pattern, s.guard(rt))
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, nil, http.StatusNotFound, "no such page: "+r.URL.Path)
	})
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, nil, http.StatusForbidden, "cross-origin request refused: state-changing requests must come from this console's own pages")
	}))
	s.handler = s.headers(s.recoverer(s.hostGuard(cop.Handler(mux))))
	return s, nil
}

// hostGuard: without TLS the console listens on loopback only, so it
// answers only to a loopback host name (localhost, 127.0.0.0/8, ::1). A
// web page on another site that rebinds its own name to 127.0.0.1 (DNS
// rebinding) would otherwise reach it as a same-origin page, past the
// cross-origin check. Under TLS the browser checks the certificate's name.
func (s *Server) hostGuard(next http.Handler) http.Handler {
	if s.opt.TLS {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			s.fail(w, r, nil, http.StatusMisdirectedRequest, "this console answers only to a loopback host name (localhost, 127.0.0.1, [::1])")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether a Host header names this machine's
// loopback interface.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func (s *Server) routeTable() []route {
	return []route{
		{"GET", "/login", rolePublic, false, s.loginPage},
		{"POST", "/login", rolePublic, false, s.login},
		{"POST", "/logout", roleViewer, false, s.logout},
		{"GET", "/{$}", roleViewer, false, func(w http.ResponseWriter, r *http.Request, _ *user) error {
			http.Redirect(w, r, "/status", http.StatusSeeOther)
			return nil
		}},
		{"GET", "/status", roleViewer, false, s.statusPage},
		{"GET", "/decisions", roleViewer, false, s.decisionsPage},
		{"GET", "/decisions/{id}", roleViewer, false, s.decisionPage},
		{"GET", "/runs", roleViewer, false, s.runsPage},
		{"GET", "/events", roleViewer, false, s.eventsPage},
		{"GET", "/policy", roleViewer, false, s.policyPage},
		{"GET", "/audit", roleViewer, false, s.auditPage},
		{"POST", "/kill", roleOperator, false, s.killForm},
		{"POST", "/resume", roleOperator, false, s.resumeForm},
		{"GET", "/approvals", roleViewer, false, s.approvalsPage},
		{"POST", "/approvals/{id}/approve", roleOperator, false, s.approveForm},
		{"POST", "/approvals/{id}/deny", roleOperator, false, s.denyForm},
		{"GET", "/api/status", roleViewer, true, s.apiStatus},
		{"GET", "/api/decisions", roleViewer, true, s.apiDecisions},
		{"GET", "/api/decisions/{id}", roleViewer, true, s.apiDecision},
		{"GET", "/api/runs", roleViewer, true, s.apiRuns},
		{"GET", "/api/events", roleViewer, true, s.apiEvents},
		{"POST", "/api/kill", roleOperator, true, s.apiKill},
		{"POST", "/api/resume", roleOperator, true, s.apiResume},
		{"GET", "/api/approvals", roleViewer, true, s.apiApprovals},
		{"POST", "/api/approvals/{id}/approve", roleOperator, true, s.apiApprove},
		{"POST", "/api/approvals/{id}/deny", roleOperator, true, s.apiDeny},
	}
}

// guard authenticates and authorizes one route: no session (or an
// expired one) is sent to the login page (401 on the API); a role below
// the route's is refused with 403. Request bodies are capped.
func (s *Server) guard(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		}
		if rt.api {
			r = r.WithContext(context.WithValue(r.Context(), apiKey{}, true))
		}
		// A database deleted or replaced since the console opened it is
		// one no other process reads: a kill switch set there would stop
		// nothing. Nothing is served or done until it is restarted.
		if err := s.st.CheckFile(); err != nil {
			s.fail(w, r, nil, http.StatusServiceUnavailable, err.Error()+" (restart warden ui)")
			return
		}
		u, err := s.session(r)
		if err != nil {
			s.fail(w, r, nil, http.StatusServiceUnavailable, "the audit database cannot be read: "+err.Error())
			return
		}
		if rt.need > rolePublic {
			if u == nil {
				if rt.api || r.Method != http.MethodGet {
					s.fail(w, r, nil, http.StatusUnauthorized, "sign in first")
					return
				}
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			if roleOf(u.Role) < rt.need {
				s.fail(w, r, u, http.StatusForbidden, "this needs the operator role; you are signed in as a "+u.Role)
				return
			}
		}
		if err := rt.h(w, r, u); err != nil {
			s.handleErr(w, r, u, err)
		}
	})
}

type apiKey struct{}

func isAPI(r *http.Request) bool { v, _ := r.Context().Value(apiKey{}).(bool); return v }

// httpError is an error with the status and message a client sees.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, a ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, a...)}
}

// decodeJSONBody decodes an API request's body into v strictly: JSON by
// its Content-Type, no unknown field, one object only; want shows the
// expected shape in the error. A body over MaxBodyBytes keeps its own
// error (413).
func decodeJSONBody(r *http.Request, v any, want string) error {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return &httpError{http.StatusUnsupportedMediaType, "send JSON: Content-Type: application/json"}
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return badRequest("malformed JSON body: %v (want %s)", err, want)
	}
	if dec.More() {
		return badRequest("malformed JSON body: one object only")
	}
	return nil
}

func (s *Server) handleErr(w http.ResponseWriter, r *http.Request, u *user, err error) {
	var he *httpError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &he):
		s.fail(w, r, u, he.code, he.msg)
	case errors.As(err, &mbe):
		s.fail(w, r, u, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body too large (at most %d bytes)", MaxBodyBytes))
	case errors.Is(err, audit.ErrNotFound):
		s.fail(w, r, u, http.StatusNotFound, "not found")
	default:
		s.log.Error("console: request failed", "method", r.Method, "path", r.URL.Path, "err", s.red.String(err.Error()))
		s.fail(w, r, u, http.StatusServiceUnavailable, "the audit database could not be read or written: "+err.Error()+" (nothing was changed)")
	}
}

// fail writes an error as JSON (API) or as a page: a clear message, never
// a stack trace.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, u *user, code int, msg string) {
	if isAPI(r) || strings.HasPrefix(r.URL.Path, "/api/") {
		s.writeJSON(w, code, map[string]string{"error": msg})
		return
	}
	s.render(w, code, "error", u, map[string]any{"Code": code, "Status": http.StatusText(code), "Message": msg})
}

// headers sets the security headers of every response.
func (s *Server) headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		if s.opt.TLS {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}

// recoverer turns a panic into a 500 without a stack trace in the response
// (it is logged).
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("console: panic", "path", r.URL.Path, "panic", s.red.String(fmt.Sprint(v)), "stack", s.red.String(string(debug.Stack())))
				s.fail(w, r, nil, http.StatusInternalServerError, "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func (s *Server) writeJSON(w http.ResponseWriter, code int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		code = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":"internal error"}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	w.Write([]byte(s.red.String(buf.String())))
}

// actor is who a console action is recorded as: the user and the address
// the request came from ("console:alice@192.0.2.7"), so an action made
// with a session cookie used from elsewhere shows where it came from.
func actor(u *user, r *http.Request) string {
	return "console:" + u.Name + "@" + remote(r)
}

// remote is the client's address without the port (the console is not
// meant to sit behind a proxy: X-Forwarded-For is not trusted).
func remote(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// CheckListen refuses an address the console must not serve: anything but
// loopback needs TLS and allowNonLoop.
func CheckListen(addr string, tls, allowNonLoop bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("ui.listen %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	switch {
	case !allowNonLoop:
		return fmt.Errorf("ui.listen %q is not a loopback address: the console serves 127.0.0.1 by default; reach it through an SSH tunnel or a VPN, or set ui.allow_non_loopback: true with ui.tls_cert and ui.tls_key", addr)
	case !tls:
		return fmt.Errorf("ui.listen %q is not a loopback address and no TLS is configured: set ui.tls_cert and ui.tls_key", addr)
	}
	return nil
}
