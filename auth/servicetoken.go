package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"strings"
)

// Service tokens (issue 15) are bearer tokens for automation: ServiceTokenPrefix,
// 32 random bytes and a CRC-32 of them, in unpadded base64url. The prefix
// tells them from sk-oais- API keys, oais_rt_ refresh tokens and JWTs at a
// glance and to secret scanners; the checksum rejects a mistyped token
// before any database look-up.
const (
	ServiceTokenPrefix = "oais_st_"
	serviceTokenBytes  = 32
	serviceTokenLen    = len(ServiceTokenPrefix) + 48 // base64url of 36 bytes
)

// NewServiceToken returns a new service token and the hex SHA-256 to store.
func NewServiceToken() (token, hash string, err error) {
	b := make([]byte, serviceTokenBytes, serviceTokenBytes+4)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("auth: read service token: %w", err)
	}
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	token = ServiceTokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return token, hashToken(token), nil
}

// IsServiceToken reports whether a bearer token claims to be a service
// token (by its prefix), well-formed or not.
func IsServiceToken(token string) bool { return strings.HasPrefix(token, ServiceTokenPrefix) }

// HashServiceToken checks a service token's shape and checksum and
// returns the hex SHA-256 it is stored under.
func HashServiceToken(token string) (string, error) {
	body, ok := strings.CutPrefix(token, ServiceTokenPrefix)
	if !ok || len(token) != serviceTokenLen {
		return "", fmt.Errorf("%w: malformed service token", ErrInvalidToken)
	}
	b, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(b) != serviceTokenBytes+4 ||
		binary.BigEndian.Uint32(b[serviceTokenBytes:]) != crc32.ChecksumIEEE(b[:serviceTokenBytes]) {
		return "", fmt.Errorf("%w: malformed service token", ErrInvalidToken)
	}
	return hashToken(token), nil
}

func hashToken(t string) string {
	h := sha256.Sum256([]byte(t))
	return hex.EncodeToString(h[:])
}
