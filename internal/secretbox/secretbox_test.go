package secretbox

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"testing"
)

func newKey(t *testing.T) string {
	t.Helper()
	k := make([]byte, KeySize)
	_, _ = rand.Read(k)
	return base64.StdEncoding.EncodeToString(k)
}

func TestSealOpen(t *testing.T) {
	b, err := New(newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	ct, err := b.Seal([]byte("sk-upstream-secret"), []byte("ws_1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, []byte("sk-upstream-secret")) {
		t.Fatal("ciphertext holds the plaintext")
	}
	tests := []struct {
		name string
		box  *Box
		ct   []byte
		ad   string
		want error
	}{
		{"round trip", b, ct, "ws_1", nil},
		{"other workspace", b, ct, "ws_2", ErrTampered},
		{"flipped byte", b, append(append([]byte{}, ct[:len(ct)-1]...), ct[len(ct)-1]^1), "ws_1", ErrTampered},
		{"truncated", b, ct[:5], "ws_1", ErrTampered},
		{"other key", mustNew(t, newKey(t)), ct, "ws_1", ErrTampered},
		{"no key", &Box{}, ct, "ws_1", ErrNoKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := tt.box.Open(tt.ct, []byte(tt.ad))
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err == nil && string(pt) != "sk-upstream-secret" {
				t.Fatalf("got %q", pt)
			}
		})
	}
}

func TestBadKeys(t *testing.T) {
	for _, k := range []string{"not base64!", base64.StdEncoding.EncodeToString([]byte("short"))} {
		if _, err := New(k); !errors.Is(err, ErrBadKey) {
			t.Fatalf("New(%q) = %v", k, err)
		}
	}
	b, err := New("")
	if err != nil || b.Enabled() {
		t.Fatal("empty key must give a disabled box")
	}
	if _, err := b.Seal([]byte("x"), nil); !errors.Is(err, ErrNoKey) {
		t.Fatal("disabled box sealed")
	}
}

func mustNew(t *testing.T, k string) *Box {
	t.Helper()
	b, err := New(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDerive: derived keys are stable for one key and purpose, differ per
// purpose and per key, never equal the key, and need a key.
func TestDerive(t *testing.T) {
	k1 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, KeySize))
	k2 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, KeySize))
	b1, _ := New(k1)
	b1again, _ := New(k1)
	b2, _ := New(k2)
	a := b1.Derive("oidc state cookie")
	switch {
	case len(a) != 32:
		t.Fatalf("derived %d bytes, want 32", len(a))
	case !bytes.Equal(a, b1again.Derive("oidc state cookie")):
		t.Fatal("same key and purpose derived different keys")
	case bytes.Equal(a, b1.Derive("something else")):
		t.Fatal("two purposes share a key")
	case bytes.Equal(a, b2.Derive("oidc state cookie")):
		t.Fatal("two secrets keys derived the same key")
	case bytes.Equal(a, bytes.Repeat([]byte{1}, KeySize)):
		t.Fatal("the derived key is the secrets key")
	}
	empty, _ := New("")
	if empty.Derive("x") != nil {
		t.Fatal("a box without a key derived one")
	}
}
