// Package mail is the control plane's outgoing e-mail: the links that prove
// a person reads an address (sign-up verification, password reset) and the
// invitations to a workspace. Messages are written by Sender, queued by an
// Outbox that delivers them in the background (a request never waits on a
// mail server, and its timing does not tell whether a message was sent),
// and delivered by a Transport: SMTP (OAIS_SMTP_URL) or, unconfigured, the
// log.
//
// Every link carries a single-use secret. It is written into the message and
// nowhere else: SMTP failures are logged with the recipient and subject
// only. The log transport is the exception by design (see Log).
package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"
)

// Message is one plain-text e-mail to one recipient.
type Message struct {
	To      string
	Subject string
	Text    string
}

// Transport delivers one message now, or says why it could not.
type Transport interface {
	Deliver(ctx context.Context, m Message) error
}

// ErrBadRecipient means a message's To is not one bare address; such a
// message is never retried.
var ErrBadRecipient = errors.New("mail: recipient is not an e-mail address")

// recipient checks that to is one bare address (no display name, no line
// break that could start a header of its own).
func recipient(to string) (string, error) {
	a, err := mail.ParseAddress(to)
	if err != nil || a.Address != to || strings.ContainsAny(to, "\r\n") {
		return "", fmt.Errorf("%w: %q", ErrBadRecipient, to)
	}
	return a.Address, nil
}

// oneLine drops control characters from a header value: a workspace name in
// a subject must not start a header of its own.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// format renders m as an RFC 5322 message from `from` (a header value, e.g.
// `oais <noreply@example.com>`): UTF-8 text, quoted-printable, so a long
// link survives servers that wrap lines and the body is 7-bit clean.
func format(from string, m Message, now time.Time) ([]byte, error) {
	var b bytes.Buffer
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	domain := "oais.invalid"
	if a, err := mail.ParseAddress(from); err == nil {
		if _, d, ok := strings.Cut(a.Address, "@"); ok {
			domain = d
		}
	}
	hdr := [][2]string{
		{"From", from},
		{"To", m.To},
		{"Subject", mime.QEncoding.Encode("utf-8", oneLine(m.Subject))},
		{"Date", now.Format(time.RFC1123Z)},
		{"Message-ID", "<" + hex.EncodeToString(id) + "@" + domain + ">"},
		{"MIME-Version", "1.0"},
		{"Content-Type", `text/plain; charset="utf-8"`},
		{"Content-Transfer-Encoding", "quoted-printable"},
		{"Auto-Submitted", "auto-generated"},
	}
	for _, h := range hdr {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	b.WriteString("\r\n")
	// In text mode the writer ends every line with CRLF, as SMTP wants.
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(m.Text)); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
