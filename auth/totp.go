package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTP parameters: RFC 6238's defaults, the ones every authenticator app
// reads from an otpauth URI.
const (
	totpPeriod = 30 * time.Second
	totpDigits = otp.DigitsSix
	// totpSkew accepts the previous and next step too, for clocks a little
	// apart and codes typed as they roll over.
	totpSkew = 1
	// RecoveryCodes is how many recovery codes confirmTOTP hands out.
	RecoveryCodes = 10
)

// NewTOTP makes a new TOTP secret (160 random bits, base32) for account at
// issuer, and its otpauth:// URI for a QR code.
func NewTOTP(issuer, account string) (secret, uri string, err error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: issuer, AccountName: account, Period: uint(totpPeriod / time.Second),
		SecretSize: 20, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1, Rand: rand.Reader,
	})
	if err != nil {
		return "", "", fmt.Errorf("auth: new totp secret: %w", err)
	}
	return key.Secret(), key.URL(), nil
}

// IsTOTPCode reports whether s is shaped like a TOTP code (six digits,
// spaces allowed) rather than a recovery code.
func IsTOTPCode(s string) bool {
	s = strings.ReplaceAll(strings.TrimSpace(s), " ", "")
	if len(s) != totpDigits.Length() {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// CheckTOTP reports whether code is secret's code for a time step within
// the skew of now that is later than lastStep, and returns that step: a
// code, once accepted, never works again (RFC 6238 §5.2), not even within
// its own 30 seconds.
func CheckTOTP(secret, code string, now time.Time, lastStep int64) (int64, bool) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if !IsTOTPCode(code) {
		return 0, false
	}
	step := now.Unix() / int64(totpPeriod/time.Second)
	opts := totp.ValidateOpts{Period: uint(totpPeriod / time.Second), Digits: totpDigits, Algorithm: otp.AlgorithmSHA1}
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		s := step + d
		if s <= lastStep {
			continue
		}
		want, err := totp.GenerateCodeCustom(secret, time.Unix(s*int64(totpPeriod/time.Second), 0), opts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return s, true
		}
	}
	return 0, false
}

// TOTPCode returns secret's code at t, for tests and tools.
func TOTPCode(secret string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, t, totp.ValidateOpts{Period: uint(totpPeriod / time.Second), Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
}

// recoveryAlphabet is Crockford's base32 in lower case: no i, l, o, u, so a
// code read off paper is not mistyped.
const recoveryAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// NewRecoveryCodes returns n recovery codes of 16 characters (80 random
// bits) in four groups, e.g. "7k2m-q9fa-x4c1-pp3l".
func NewRecoveryCodes(n int) ([]string, error) {
	out := make([]string, n)
	b := make([]byte, 16)
	for i := range out {
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("auth: read recovery code: %w", err)
		}
		var sb strings.Builder
		for j, c := range b {
			if j > 0 && j%4 == 0 {
				sb.WriteByte('-')
			}
			sb.WriteByte(recoveryAlphabet[c&31])
		}
		out[i] = sb.String()
	}
	return out, nil
}

// HashRecoveryCode returns the hex SHA-256 of a recovery code as typed,
// after taking out spaces and dashes and lower-casing it.
func HashRecoveryCode(code string) string {
	c := strings.ToLower(code)
	c = strings.NewReplacer("-", "", " ", "").Replace(strings.TrimSpace(c))
	h := sha256.Sum256([]byte("oais recovery code\x00" + c))
	return hex.EncodeToString(h[:])
}
