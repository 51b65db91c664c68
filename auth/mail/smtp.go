package mail

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/smtp"
	"net/url"
	"os"
	"strings"
	"time"
)

// Ports an OAIS_SMTP_URL without one gets: submission with STARTTLS, and
// submission over implicit TLS (RFC 8314).
const (
	DefaultSMTPPort  = "587"
	DefaultSMTPSPort = "465"
	// DefaultTimeout bounds one delivery, from dial to QUIT.
	DefaultTimeout = 30 * time.Second
)

// SettingError is an OAIS_SMTP_URL or OAIS_SMTP_FROM that cannot be used;
// Var names which. Its text never contains the URL's password.
type SettingError struct{ Var, Msg string }

func (e *SettingError) Error() string { return "mail: " + e.Var + ": " + e.Msg }

func badURL(format string, a ...any) error {
	return &SettingError{Var: "OAIS_SMTP_URL", Msg: fmt.Sprintf(format, a...)}
}

// SMTP delivers through the SMTP server of OAIS_SMTP_URL: smtp:// upgrades
// the connection with STARTTLS whenever the server offers it, smtps:// speaks
// TLS from the first byte. A user and password in the URL are sent with
// AUTH PLAIN, which net/smtp refuses to do over an unencrypted connection
// to anything but localhost.
type SMTP struct {
	addr, host  string
	implicitTLS bool
	user, pass  string
	from        string // the From header
	envelope    string // the bare address of MAIL FROM
	hello       string
	// TLSConfig, if set, replaces the system roots for STARTTLS and smtps
	// (its ServerName defaults to the URL's host); tests trust their own
	// certificate with it.
	TLSConfig *tls.Config
	// Timeout bounds one delivery; DefaultTimeout if zero.
	Timeout time.Duration
}

var _ Transport = (*SMTP)(nil)

// NewSMTP checks rawURL (OAIS_SMTP_URL: smtp://user:pass@host:port or
// smtps://…) and from (OAIS_SMTP_FROM: an address, with or without a display
// name) and returns a transport that uses them, or a *SettingError.
func NewSMTP(rawURL, from string) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error quotes the whole URL, password included: say less.
		return nil, badURL("not a URL; want smtp://user:password@host:port or smtps://…")
	}
	s := &SMTP{host: u.Hostname()}
	port := u.Port()
	switch u.Scheme {
	case "smtp":
		if port == "" {
			port = DefaultSMTPPort
		}
	case "smtps":
		s.implicitTLS = true
		if port == "" {
			port = DefaultSMTPSPort
		}
	default:
		return nil, badURL("must start with smtp:// (STARTTLS when offered) or smtps:// (implicit TLS), not %q", u.Scheme+"://")
	}
	if s.host == "" {
		return nil, badURL("no host")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, badURL("takes no path or query (%s)", u.Redacted())
	}
	s.addr = net.JoinHostPort(s.host, port)
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
	}
	if strings.TrimSpace(from) == "" {
		return nil, &SettingError{Var: "OAIS_SMTP_FROM", Msg: `required with OAIS_SMTP_URL, e.g. "oais <noreply@example.com>"`}
	}
	a, err := mail.ParseAddress(from)
	if err != nil || strings.ContainsAny(from, "\r\n") {
		return nil, &SettingError{Var: "OAIS_SMTP_FROM", Msg: fmt.Sprintf("%q is not an e-mail address", from)}
	}
	s.from, s.envelope = a.String(), a.Address
	s.hello, _ = os.Hostname()
	if s.hello == "" || !strings.Contains(s.hello, ".") {
		// A bare host name is refused by some servers; net/smtp's default
		// is what a dotless name would be anyway.
		s.hello = "localhost"
	}
	return s, nil
}

// String describes the server without the password, for the log line at start.
func (s *SMTP) String() string {
	scheme := "smtp"
	if s.implicitTLS {
		scheme = "smtps"
	}
	user := ""
	if s.user != "" {
		user = s.user + "@"
	}
	return scheme + "://" + user + s.addr
}

// LogValue keeps the password out of structured logs.
func (s *SMTP) LogValue() slog.Value { return slog.StringValue(s.String()) }

func (s *SMTP) tlsConfig() *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.TLSConfig != nil {
		c = s.TLSConfig.Clone()
	}
	if c.ServerName == "" {
		c.ServerName = s.host
	}
	return c
}

// Deliver sends m in one SMTP session.
func (s *SMTP) Deliver(ctx context.Context, m Message) error {
	to, err := recipient(m.To)
	if err != nil {
		return err
	}
	body, err := format(s.from, m, time.Now())
	if err != nil {
		return fmt.Errorf("mail: format: %w", err)
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("mail: connect to %s: %w", s.addr, err)
	}
	// net/smtp takes no context: the deadline bounds every read and write,
	// and a cancelled ctx closes the connection under it.
	dl, _ := ctx.Deadline()
	_ = conn.SetDeadline(dl)
	defer context.AfterFunc(ctx, func() { _ = conn.Close() })()
	if s.implicitTLS {
		tc := tls.Client(conn, s.tlsConfig())
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = conn.Close()
			return fmt.Errorf("mail: TLS with %s: %w", s.addr, err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("mail: greeting of %s: %w", s.addr, err)
	}
	defer c.Close()
	if err := c.Hello(s.hello); err != nil {
		return fmt.Errorf("mail: EHLO to %s: %w", s.addr, err)
	}
	if !s.implicitTLS {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(s.tlsConfig()); err != nil {
				return fmt.Errorf("mail: STARTTLS with %s: %w", s.addr, err)
			}
		}
	}
	if s.user != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return fmt.Errorf("mail: %s offers no AUTH, but OAIS_SMTP_URL names a user", s.addr)
		}
		if err := c.Auth(smtp.PlainAuth("", s.user, s.pass, s.host)); err != nil {
			return fmt.Errorf("mail: authenticate to %s as %s: %w", s.addr, s.user, err)
		}
	}
	if err := c.Mail(s.envelope); err != nil {
		return fmt.Errorf("mail: MAIL FROM refused by %s: %w", s.addr, err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("mail: RCPT TO refused by %s: %w", s.addr, err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("mail: DATA refused by %s: %w", s.addr, err)
	}
	if _, err := w.Write(body); err != nil {
		return fmt.Errorf("mail: send to %s: %w", s.addr, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("mail: message refused by %s: %w", s.addr, err)
	}
	// The message is accepted; a failed QUIT changes nothing.
	_ = c.Quit()
	return nil
}

// Log is the transport when no mail server is configured (OAIS_SMTP_URL
// unset, the embedded single-machine default): every message becomes one
// warning in the log, its link included, since on such a machine the log is
// the only way an operator can hand a link on. The link is the secret, so
// whoever reads the log can use it; the control plane says so at start.
type Log struct{ Logger *slog.Logger }

var _ Transport = Log{}

// Deliver logs m.
func (l Log) Deliver(ctx context.Context, m Message) error {
	l.Logger.WarnContext(ctx, "mail: not sent, OAIS_SMTP_URL is not set; the message follows (its link works for whoever reads it)",
		slog.String("to", m.To), slog.String("subject", m.Subject), slog.String("text", m.Text))
	return nil
}
