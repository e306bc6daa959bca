package notify

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// smtpServer is a minimal SMTP server on loopback that speaks real SMTP
// (RFC 5321 commands, STARTTLS per RFC 3207, AUTH PLAIN per RFC 4954) for
// the e-mail sender's tests. It records every message and can be told to
// answer a command with an error reply.
type smtpServer struct {
	t        *testing.T
	ln       net.Listener
	implicit bool // TLS from the first byte (port 465 style)
	noTLS    bool // does not offer STARTTLS
	user     string
	pass     string
	tlsCfg   *tls.Config
	pool     *x509.CertPool

	mu       sync.Mutex
	replies  map[string][]string // command → queued error replies
	messages []smtpMessage
	sessions int
	wg       sync.WaitGroup
}

type smtpMessage struct {
	From     string
	To       []string
	Data     string
	TLS      bool
	AuthUser string
}

// newTestCert makes a self-signed certificate for 127.0.0.1 and localhost.
func newTestCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "warden test smtp"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

func newSMTPServer(t *testing.T, implicit bool) *smtpServer {
	t.Helper()
	cert, pool := newTestCert(t)
	s := &smtpServer{t: t, implicit: implicit, user: "warden", pass: "smtp-sekrit-Pa55word",
		tlsCfg: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, pool: pool,
		replies: map[string][]string{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln = ln
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.Close)
	return s
}

func (s *smtpServer) Close() {
	s.ln.Close()
	s.wg.Wait()
}

func (s *smtpServer) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Reply queues an error reply for the next use of cmd (MAIL, RCPT, DATA,
// AUTH, ...), e.g. "451 4.3.0 try again later".
func (s *smtpServer) Reply(cmd, reply string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replies[cmd] = append(s.replies[cmd], reply)
}

func (s *smtpServer) Messages() []smtpMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]smtpMessage(nil), s.messages...)
}

func (s *smtpServer) takeReply(cmd string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.replies[cmd]
	if len(q) == 0 {
		return ""
	}
	s.replies[cmd] = q[1:]
	return q[0]
}

func (s *smtpServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.sessions++
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.session(c)
		}()
	}
}

// session runs one SMTP conversation.
func (s *smtpServer) session(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	secure := false
	if s.implicit {
		tc := tls.Server(c, s.tlsCfg)
		if err := tc.Handshake(); err != nil {
			return
		}
		c, secure = tc, true
	}
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	say := func(lines ...string) bool {
		for _, l := range lines {
			w.WriteString(l + "\r\n")
		}
		return w.Flush() == nil
	}
	readLine := func() (string, bool) {
		l, err := r.ReadString('\n')
		if err != nil {
			return "", false
		}
		return strings.TrimRight(l, "\r\n"), true
	}
	if !say("220 localhost ESMTP warden-test") {
		return
	}
	var msg smtpMessage
	authUser := ""
	for {
		line, ok := readLine()
		if !ok {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		if rep := s.takeReply(verb); rep != "" {
			if !say(rep) {
				return
			}
			if strings.HasPrefix(rep, "421") {
				return
			}
			continue
		}
		switch verb {
		case "EHLO", "HELO":
			lines := []string{"250-localhost greets you"}
			if !secure && !s.noTLS {
				lines = append(lines, "250-STARTTLS")
			}
			if secure {
				lines = append(lines, "250-AUTH PLAIN")
			}
			lines = append(lines, "250-8BITMIME", "250 ENHANCEDSTATUSCODES")
			say(lines...)
		case "STARTTLS":
			if secure || s.noTLS {
				say("502 5.5.1 STARTTLS not available")
				continue
			}
			say("220 2.0.0 Ready to start TLS")
			tc := tls.Server(c, s.tlsCfg)
			if err := tc.Handshake(); err != nil {
				return
			}
			c, secure = tc, true
			r, w = bufio.NewReader(c), bufio.NewWriter(c)
			msg, authUser = smtpMessage{}, ""
		case "AUTH":
			if !secure {
				say("538 5.7.11 Encryption required for requested authentication mechanism")
				continue
			}
			mech, initial, _ := strings.Cut(arg, " ")
			if strings.ToUpper(mech) != "PLAIN" {
				say("504 5.5.4 Unrecognized authentication type")
				continue
			}
			if initial == "" {
				say("334 ")
				if initial, ok = readLine(); !ok {
					return
				}
			}
			raw, err := base64.StdEncoding.DecodeString(initial)
			parts := strings.Split(string(raw), "\x00")
			if err != nil || len(parts) != 3 || parts[1] != s.user || parts[2] != s.pass {
				say("535 5.7.8 Authentication credentials invalid")
				continue
			}
			authUser = parts[1]
			say("235 2.7.0 Authentication successful")
		case "MAIL":
			if s.user != "" && authUser == "" {
				say("530 5.7.0 Authentication required")
				continue
			}
			msg = smtpMessage{From: smtpPath(arg), TLS: secure, AuthUser: authUser}
			say("250 2.1.0 OK")
		case "RCPT":
			msg.To = append(msg.To, smtpPath(arg))
			say("250 2.1.5 OK")
		case "DATA":
			if msg.From == "" || len(msg.To) == 0 {
				say("503 5.5.1 Bad sequence of commands")
				continue
			}
			say("354 Start mail input; end with <CRLF>.<CRLF>")
			var b strings.Builder
			for {
				l, ok := readLine()
				if !ok {
					return
				}
				if l == "." {
					break
				}
				b.WriteString(strings.TrimPrefix(l, ".") + "\n")
			}
			msg.Data = b.String()
			s.mu.Lock()
			s.messages = append(s.messages, msg)
			s.mu.Unlock()
			msg = smtpMessage{TLS: secure, AuthUser: authUser}
			say("250 2.0.0 OK queued")
		case "RSET":
			msg = smtpMessage{TLS: secure, AuthUser: authUser}
			say("250 2.0.0 OK")
		case "NOOP":
			say("250 2.0.0 OK")
		case "QUIT":
			say("221 2.0.0 Bye")
			return
		default:
			say("500 5.5.2 Command not recognized")
		}
	}
}

// smtpPath reads the address of "FROM:<a@b> SIZE=..." or "TO:<a@b>".
func smtpPath(arg string) string {
	_, rest, _ := strings.Cut(arg, ":")
	rest = strings.TrimSpace(rest)
	if i := strings.Index(rest, ">"); strings.HasPrefix(rest, "<") && i > 0 {
		return rest[1:i]
	}
	return rest
}
