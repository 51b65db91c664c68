package auth_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/oais/oais/auth"
)

func TestServiceTokenFormat(t *testing.T) {
	tok, hash, err := auth.NewServiceToken()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := auth.HashServiceToken(tok); err != nil || got != hash {
		t.Fatalf("HashServiceToken(new) = %q, %v; want %q", got, err, hash)
	}
	flip := func(s string, i int) string {
		c := byte('A')
		if s[i] == 'A' {
			c = 'B'
		}
		return s[:i] + string(c) + s[i+1:]
	}
	for name, bad := range map[string]string{
		"empty":             "",
		"an API key":        "sk-oais-" + strings.Repeat("a", 40),
		"a refresh token":   auth.RefreshTokenPrefix + strings.Repeat("a", 43),
		"a JWT":             "eyJhbGciOiJFZERTQSJ9.e30.sig",
		"truncated":         tok[:len(tok)-1],
		"one character off": flip(tok, len(auth.ServiceTokenPrefix)+5),
		"checksum off":      flip(tok, len(tok)-2),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := auth.HashServiceToken(bad); !errors.Is(err, auth.ErrInvalidToken) {
				t.Fatalf("accepted (%v)", err)
			}
		})
	}
	if auth.IsServiceToken("sk-oais-x") || !auth.IsServiceToken(tok) {
		t.Fatal("IsServiceToken tells the kinds apart by prefix")
	}
}

func TestCheckTOTP(t *testing.T) {
	secret, uri, err := auth.NewTOTP("oais", "a@b.example")
	if err != nil || !strings.HasPrefix(uri, "otpauth://totp/") {
		t.Fatalf("NewTOTP: %q, %v", uri, err)
	}
	now := time.Unix(1_800_000_000, 0)
	code := func(d time.Duration) string {
		c, err := auth.TOTPCode(secret, now.Add(d))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	step, ok := auth.CheckTOTP(secret, code(0), now, 0)
	if !ok {
		t.Fatal("the current code is refused")
	}
	for _, tc := range []struct {
		name     string
		code     string
		lastStep int64
		want     bool
	}{
		{"the previous step (clock skew)", code(-30 * time.Second), 0, true},
		{"the next step (clock skew)", code(30 * time.Second), 0, true},
		{"two steps ago", code(-60 * time.Second), 0, false},
		{"the same code again", code(0), step, false},
		{"an older code after a newer one", code(-30 * time.Second), step, false},
		{"not digits", "12a456", 0, false},
		{"too short", "12345", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := auth.CheckTOTP(secret, tc.code, now, tc.lastStep); ok != tc.want {
				t.Fatalf("accepted = %v, want %v", ok, tc.want)
			}
		})
	}
	codes, err := auth.NewRecoveryCodes(10)
	if err != nil || len(codes) != 10 || len(codes[0]) != 19 {
		t.Fatalf("recovery codes %v, %v", codes, err)
	}
	if auth.HashRecoveryCode(codes[0]) != auth.HashRecoveryCode(" "+strings.ToUpper(strings.ReplaceAll(codes[0], "-", ""))+" ") {
		t.Fatal("a recovery code typed without dashes, in capitals, does not match")
	}
}
