package mail_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oais/oais/auth/mail"
	"github.com/oais/oais/auth/mail/mailtest"
)

func TestNewSMTP(t *testing.T) {
	tests := []struct {
		name, url, from string
		want            string // String() of the result
		wantErr         string // in the error; never the password
	}{
		{name: "starttls default port", url: "smtp://user:s3cret@mail.example.com", from: "noreply@example.com", want: "smtp://user@mail.example.com:587"},
		{name: "implicit tls default port", url: "smtps://mail.example.com", from: "oais <noreply@example.com>", want: "smtps://mail.example.com:465"},
		{name: "explicit port, escaped password", url: "smtp://u%40x:p%2Fw@127.0.0.1:2525", from: "a@b.test", want: "smtp://u@x@127.0.0.1:2525"},
		{name: "other scheme", url: "http://mail.example.com", from: "a@b.test", wantErr: "must start with smtp://"},
		{name: "no host", url: "smtp://user:s3cret@:25", from: "a@b.test", wantErr: "no host"},
		{name: "a path", url: "smtp://user:s3cret@host/x", from: "a@b.test", wantErr: "no path"},
		{name: "unparsable keeps the password out", url: "smtp://user:s3cret@host:port", from: "a@b.test", wantErr: "not a URL"},
		{name: "no from", url: "smtp://host", wantErr: "OAIS_SMTP_FROM: required"},
		{name: "bad from", url: "smtp://host", from: "not an address", wantErr: "OAIS_SMTP_FROM"},
		{name: "from with a header in it", url: "smtp://host", from: "a@b.test\r\nBcc: x@y.test", wantErr: "OAIS_SMTP_FROM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := mail.NewSMTP(tt.url, tt.from)
			if tt.wantErr != "" {
				var se *mail.SettingError
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.As(err, &se) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.String() != tt.want {
				t.Fatalf("String() = %q, want %q", s, tt.want)
			}
		})
	}
}

// TestSMTPDelivers sends through a real SMTP server in each mode the
// control plane supports, and reads the message back.
func TestSMTPDelivers(t *testing.T) {
	tests := []struct {
		name     string
		opts     mailtest.Options
		wantTLS  bool
		wantUser string
	}{
		{name: "plain relay, no TLS offered", opts: mailtest.Options{}},
		{name: "STARTTLS when offered", opts: mailtest.Options{STARTTLS: true}, wantTLS: true},
		{name: "STARTTLS then AUTH PLAIN", opts: mailtest.Options{STARTTLS: true, User: "oais", Password: "pa:ss/word"}, wantTLS: true, wantUser: "oais"},
		{name: "implicit TLS (smtps) with AUTH", opts: mailtest.Options{ImplicitTLS: true, User: "oais", Password: "x"}, wantTLS: true, wantUser: "oais"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := mailtest.Start(t, tt.opts)
			tr, err := mail.NewSMTP(srv.URL(), `"Ops Team" <noreply@oais.test>`)
			if err != nil {
				t.Fatal(err)
			}
			tr.TLSConfig = srv.ClientTLS
			text := "Hello.\n\nA long line, so quoted-printable has to wrap it: " + strings.Repeat("é", 60) + "\nhttps://oais.test/invite/accept?token=" + strings.Repeat("A", 43) + "\n"
			m := mail.Message{To: "bob@example.com", Subject: "Über\r\nBcc: eve@example.com", Text: text}
			if err := tr.Deliver(context.Background(), m); err != nil {
				t.Fatalf("Deliver: %v", err)
			}
			got := srv.Next(t, "bob@example.com", "/invite/accept")
			if got.TLS != tt.wantTLS || got.User != tt.wantUser {
				t.Fatalf("TLS %v user %q, want %v %q", got.TLS, got.User, tt.wantTLS, tt.wantUser)
			}
			if got.From != "noreply@oais.test" || len(got.To) != 1 || got.To[0] != "bob@example.com" {
				t.Fatalf("envelope from %q to %v", got.From, got.To)
			}
			if got.Text != strings.ReplaceAll(text, "\n", "\r\n") {
				t.Fatalf("text arrived as %q", got.Text)
			}
			if got.Header.Get("Bcc") != "" || strings.Contains(got.Raw, "\r\nBcc:") {
				t.Fatalf("a subject started a header of its own:\n%s", got.Raw)
			}
			if tok := mailtest.Token(t, got, "/invite/accept"); tok != strings.Repeat("A", 43) {
				t.Fatalf("token %q", tok)
			}
		})
	}
}

func TestSMTPRefuses(t *testing.T) {
	t.Run("wrong password", func(t *testing.T) {
		srv := mailtest.Start(t, mailtest.Options{STARTTLS: true, User: "oais", Password: "right"})
		u, _ := url.Parse(srv.URL())
		u.User = url.UserPassword("oais", "wrong")
		tr, err := mail.NewSMTP(u.String(), "noreply@oais.test")
		if err != nil {
			t.Fatal(err)
		}
		tr.TLSConfig = srv.ClientTLS
		err = tr.Deliver(context.Background(), mail.Message{To: "bob@example.com", Subject: "x", Text: "x"})
		if err == nil {
			t.Fatal("delivered with a wrong password")
		}
		if strings.Contains(err.Error(), "wrong") {
			t.Fatalf("the error shows the password: %v", err)
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		srv := mailtest.Start(t, mailtest.Options{STARTTLS: true})
		tr, err := mail.NewSMTP(srv.URL(), "noreply@oais.test")
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Deliver(context.Background(), mail.Message{To: "bob@example.com", Subject: "x", Text: "x"}); err == nil {
			t.Fatal("delivered over STARTTLS to a server whose certificate nobody trusts")
		}
		if n := len(srv.Messages()); n != 0 {
			t.Fatalf("%d messages arrived", n)
		}
	})
	t.Run("a recipient with a header in it", func(t *testing.T) {
		srv := mailtest.Start(t, mailtest.Options{})
		tr, _ := mail.NewSMTP(srv.URL(), "noreply@oais.test")
		err := tr.Deliver(context.Background(), mail.Message{To: "bob@example.com\r\nBcc: eve@example.com", Subject: "x", Text: "x"})
		if !errors.Is(err, mail.ErrBadRecipient) {
			t.Fatalf("err = %v, want ErrBadRecipient", err)
		}
	})
}

// flaky fails its first n deliveries.
type flaky struct {
	mu   sync.Mutex
	n    int
	got  []mail.Message
	seen chan struct{}
}

func (f *flaky) Deliver(_ context.Context, m mail.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n > 0 {
		f.n--
		return errors.New("451 try again later")
	}
	f.got = append(f.got, m)
	f.seen <- struct{}{}
	return nil
}

func TestOutbox(t *testing.T) {
	t.Run("retries, then delivers", func(t *testing.T) {
		f := &flaky{n: 2, seen: make(chan struct{}, 10)}
		o := mail.NewOutbox(f, mail.OutboxOptions{Retries: []time.Duration{time.Millisecond, time.Millisecond}, Logger: slog.New(slog.DiscardHandler)})
		o.Post(mail.Message{To: "a@example.com", Subject: "s", Text: "t"})
		if err := o.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if len(f.got) != 1 {
			t.Fatalf("delivered %d", len(f.got))
		}
	})
	t.Run("gives up after its retries", func(t *testing.T) {
		var logs bytes.Buffer
		f := &flaky{n: 3, seen: make(chan struct{}, 10)}
		o := mail.NewOutbox(f, mail.OutboxOptions{Retries: []time.Duration{time.Millisecond}, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
		o.Post(mail.Message{To: "a@example.com", Subject: "s", Text: "secret link https://x.test/?token=abc"})
		_ = o.Close(context.Background())
		if len(f.got) != 0 || !strings.Contains(logs.String(), "message dropped") {
			t.Fatalf("delivered %d; logs:\n%s", len(f.got), logs.String())
		}
		if strings.Contains(logs.String(), "token=abc") {
			t.Fatalf("a failed delivery logged the link:\n%s", logs.String())
		}
	})
	t.Run("close gives up at its deadline", func(t *testing.T) {
		f := &flaky{n: 1000, seen: make(chan struct{}, 10)}
		o := mail.NewOutbox(f, mail.OutboxOptions{Retries: []time.Duration{time.Hour}, Logger: slog.New(slog.DiscardHandler)})
		o.Post(mail.Message{To: "a@example.com"})
		o.Post(mail.Message{To: "b@example.com"})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if err := o.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close = %v, want the deadline", err)
		}
		o.Post(mail.Message{To: "c@example.com"}) // after Close: dropped, no panic
	})
}

func TestLogTransportWritesTheLink(t *testing.T) {
	var logs bytes.Buffer
	o := mail.NewOutbox(mail.Log{Logger: slog.New(slog.NewJSONHandler(&logs, nil))}, mail.OutboxOptions{})
	base, _ := url.Parse("http://localhost:8080/")
	mail.NewSender(o, base).PasswordReset("bob@example.com", "TOKEN123", time.Now().Add(time.Hour))
	if err := o.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `http://localhost:8080/reset-password?token=TOKEN123`) || !strings.Contains(logs.String(), `"level":"WARN"`) {
		t.Fatalf("log:\n%s", logs.String())
	}
}

func TestToken(t *testing.T) {
	tok, hash, err := mail.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := mail.TokenHash(tok); !ok || got != hash || hash == tok {
		t.Fatalf("TokenHash(%q) = %q, %v; NewToken's hash %q", tok, got, ok, hash)
	}
	for _, bad := range []string{"", "short", tok + "x", strings.Repeat("!", len(tok))} {
		if _, ok := mail.TokenHash(bad); ok {
			t.Fatalf("TokenHash(%q) accepted", bad)
		}
	}
}
