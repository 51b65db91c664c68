// Package secretbox encrypts secrets the control plane stores and the
// gateway must read back, such as a workspace's upstream API key: AES-256-GCM
// under one key from OAIS_SECRETS_KEY, shared by both binaries.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
)

// KeySize is the length of the key in bytes (AES-256).
const KeySize = 32

// Errors of the box.
var (
	ErrNoKey         = errors.New("secretbox: OAIS_SECRETS_KEY is not set; generate one with `openssl rand -base64 32` and give the same value to the control plane and every gateway")
	ErrBadKey        = errors.New("secretbox: OAIS_SECRETS_KEY must be 32 bytes, base64-encoded (openssl rand -base64 32)")
	ErrTampered      = errors.New("secretbox: ciphertext is corrupt or was sealed under another key")
	version     byte = 1
)

// Box seals and opens secrets. The zero Box has no key: every call fails
// with ErrNoKey.
type Box struct {
	aead cipher.AEAD
	key  []byte
}

// New returns a Box for a base64-encoded 32-byte key; an empty key gives a
// Box that refuses to seal or open (ErrNoKey).
func New(b64 string) (*Box, error) {
	if b64 == "" {
		return &Box{}, nil
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(key) != KeySize {
		return nil, ErrBadKey
	}
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(blk)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead, key: key}, nil
}

// Derive returns a 32-byte key for purpose, derived from the box's key
// (HMAC-SHA256 of the purpose), so other uses of OAIS_SECRETS_KEY never
// share key material with sealing; nil when the box has no key. Every
// replica with the same OAIS_SECRETS_KEY derives the same key.
func (b *Box) Derive(purpose string) []byte {
	if !b.Enabled() {
		return nil
	}
	mac := hmac.New(sha256.New, b.key)
	mac.Write([]byte("oais secretbox derive: " + purpose))
	return mac.Sum(nil)
}

// Enabled reports whether the Box has a key.
func (b *Box) Enabled() bool { return b != nil && b.aead != nil }

// Seal encrypts plaintext; ad binds the ciphertext to its owner (e.g. the
// workspace id) so it cannot be copied to another row.
func (b *Box) Seal(plaintext, ad []byte) ([]byte, error) {
	if !b.Enabled() {
		return nil, ErrNoKey
	}
	out := make([]byte, 1+b.aead.NonceSize(), 1+b.aead.NonceSize()+len(plaintext)+b.aead.Overhead())
	out[0] = version
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, err
	}
	return b.aead.Seal(out, out[1:], plaintext, ad), nil
}

// Open decrypts what Seal made with the same ad.
func (b *Box) Open(ciphertext, ad []byte) ([]byte, error) {
	if !b.Enabled() {
		return nil, ErrNoKey
	}
	n := b.aead.NonceSize()
	if len(ciphertext) < 1+n+b.aead.Overhead() || ciphertext[0] != version {
		return nil, ErrTampered
	}
	pt, err := b.aead.Open(nil, ciphertext[1:1+n], ciphertext[1+n:], ad)
	if err != nil {
		return nil, fmt.Errorf("%w", ErrTampered)
	}
	return pt, nil
}
