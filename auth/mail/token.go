package mail

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
)

// tokenBytes is the entropy of a link's token: 256 bits, so guessing one
// is hopeless and no throttle is needed on the pages that take them.
const tokenBytes = 32

// tokenLen is the length of a token as text (unpadded base64url).
var tokenLen = base64.RawURLEncoding.EncodedLen(tokenBytes)

// NewToken returns the single-use secret of a mailed link and the hash to
// store in its place: the database never holds a usable link.
func NewToken() (token, hash string, err error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("mail: token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, hashOf(token), nil
}

// TokenHash returns the stored hash of token, or ok = false when token
// cannot be one of NewToken's (wrong length or alphabet), so garbage never
// reaches a query.
func TokenHash(token string) (hash string, ok bool) {
	if len(token) != tokenLen {
		return "", false
	}
	if _, err := base64.RawURLEncoding.DecodeString(token); err != nil {
		return "", false
	}
	return hashOf(token), true
}

func hashOf(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}
