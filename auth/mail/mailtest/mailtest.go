// Package mailtest runs a real SMTP server (github.com/emersion/go-smtp) on
// loopback for tests, and reads the links out of what it received.
package mailtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log"
	"math/big"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Options shapes the server.
type Options struct {
	// STARTTLS offers STARTTLS with a fresh self-signed certificate.
	STARTTLS bool
	// ImplicitTLS speaks TLS from the first byte (smtps://).
	ImplicitTLS bool
	// User and Password, when set, are required with AUTH PLAIN before MAIL.
	User, Password string
}

// Message is one received message.
type Message struct {
	From   string
	To     []string
	Header mail.Header
	// Text is the body, quoted-printable decoded.
	Text string
	// Raw is the message as received.
	Raw string
	// TLS says whether the session was encrypted when the message came.
	TLS bool
	// User is who authenticated, if anyone did.
	User string
}

// Server is an SMTP server on 127.0.0.1 collecting every message.
type Server struct {
	opts Options
	srv  *smtp.Server
	addr string
	// ClientTLS trusts the server's certificate; give it to the client.
	ClientTLS *tls.Config

	mu    sync.Mutex
	msgs  []Message
	taken []bool
	grew  chan struct{}
}

// Start runs a server for the rest of the test.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{opts: opts, grew: make(chan struct{})}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s, c: c}, nil
	}))
	s.srv.Domain = "mailtest.local"
	s.srv.ReadTimeout, s.srv.WriteTimeout = 30*time.Second, 30*time.Second
	// Not t.Log: a connection may end after the test has.
	s.srv.ErrorLog = log.New(io.Discard, "", 0)
	var ln net.Listener
	var err error
	if opts.STARTTLS || opts.ImplicitTLS {
		cert, pool := selfSigned(t)
		s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		s.ClientTLS = &tls.Config{RootCAs: pool}
	}
	if opts.ImplicitTLS {
		ln, err = tls.Listen("tcp", "127.0.0.1:0", s.srv.TLSConfig)
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		if !opts.STARTTLS {
			s.srv.TLSConfig = nil
		}
	}
	if err != nil {
		t.Fatalf("mailtest: listen: %v", err)
	}
	// Without TLS, AUTH is offered only when the test asks for it on a
	// plain connection (net/smtp allows that on loopback only).
	s.srv.AllowInsecureAuth = opts.User != ""
	s.addr = ln.Addr().String()
	go func() { _ = s.srv.Serve(ln) }()
	t.Cleanup(func() { _ = s.srv.Close() })
	return s
}

// URL is the OAIS_SMTP_URL that reaches the server.
func (s *Server) URL() string {
	u := url.URL{Scheme: "smtp", Host: s.addr}
	if s.opts.ImplicitTLS {
		u.Scheme = "smtps"
	}
	if s.opts.User != "" {
		u.User = url.UserPassword(s.opts.User, s.opts.Password)
	}
	return u.String()
}

// Messages returns every message received so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// WaitTimeout bounds how long Next waits for a message. Delivery is
// asynchronous, so a test waits; nothing asserts on the time.
const WaitTimeout = 30 * time.Second

// Next returns the oldest message to `to` that carries a link to the page
// path and that no earlier Next returned, waiting for one to arrive.
func (s *Server) Next(t testing.TB, to, path string) Message {
	t.Helper()
	deadline := time.After(WaitTimeout)
	for {
		s.mu.Lock()
		for i, m := range s.msgs {
			if !s.taken[i] && contains(m.To, to) && linkIn(m.Text, path) != "" {
				s.taken[i] = true
				s.mu.Unlock()
				return m
			}
		}
		grew := s.grew
		s.mu.Unlock()
		select {
		case <-grew:
		case <-deadline:
			t.Fatalf("mailtest: no message to %s with a link to %s after %v; received %d: %s", to, path, WaitTimeout, len(s.Messages()), s.summary())
		}
	}
}

// Token is Next's message's token: the ?token= of its link to path.
func (s *Server) Token(t testing.TB, to, path string) string {
	t.Helper()
	return Token(t, s.Next(t, to, path), path)
}

// Token returns the ?token= of m's first link to the page path.
func Token(t testing.TB, m Message, path string) string {
	t.Helper()
	link := linkIn(m.Text, path)
	u, err := url.Parse(link)
	if err != nil || u.Query().Get("token") == "" {
		t.Fatalf("mailtest: no token in link %q of message %q", link, m.Header.Get("Subject"))
	}
	return u.Query().Get("token")
}

var links = regexp.MustCompile(`https?://[^\s"<>]+`)

// linkIn returns the first URL in text whose path is path.
func linkIn(text, path string) string {
	for _, l := range links.FindAllString(text, -1) {
		if u, err := url.Parse(l); err == nil && u.Path == path {
			return l
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func (s *Server) summary() string {
	var b strings.Builder
	for _, m := range s.Messages() {
		fmt.Fprintf(&b, "\n  to %v: %s", m.To, m.Header.Get("Subject"))
	}
	return b.String()
}

func (s *Server) add(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	s.taken = append(s.taken, false)
	close(s.grew)
	s.grew = make(chan struct{})
}

// session is one SMTP conversation.
type session struct {
	s    *Server
	c    *smtp.Conn
	user string
	from string
	to   []string
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) AuthMechanisms() []string {
	if ss.s.opts.User == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != ss.s.opts.User || pass != ss.s.opts.Password {
			return smtp.ErrAuthFailed
		}
		ss.user = user
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.opts.User != "" && ss.user == "" {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return &smtp.SMTPError{Code: 554, Message: "not a message: " + err.Error()}
	}
	body, err := io.ReadAll(msg.Body)
	if err != nil {
		return err
	}
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		if body, err = io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body))); err != nil {
			return &smtp.SMTPError{Code: 554, Message: "bad quoted-printable: " + err.Error()}
		}
	}
	_, isTLS := ss.c.TLSConnectionState()
	ss.s.add(Message{From: ss.from, To: ss.to, Header: msg.Header, Text: string(body), Raw: string(raw), TLS: isTLS, User: ss.user})
	return nil
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mailtest"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
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
