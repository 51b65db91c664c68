// Package keys is the domain of API keys: their secret format, hashing,
// masking and lifecycle. Nothing here does I/O, so the gateway can reject a
// malformed key before it costs a look-up.
//
// A secret is "sk-oais-" + 40 random base62 characters (238 bits) + a 6
// character base62 CRC-32 of everything before it, the scheme GitHub uses for
// its tokens: a typo or a truncated paste fails Parse offline, and a secret
// scanner can validate a candidate without asking us.
package keys

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"unsafe"
)

// Prefix starts every secret; it names the product so scanners can find leaks.
const Prefix = "sk-oais-"

const (
	bodyLen     = 40 // random characters: 40*log2(62) ≈ 238 bits ≥ 190.
	checksumLen = 6  // 62^6 > 2^32 holds a CRC-32.
	// SecretLen is the length of every secret.
	SecretLen = len(Prefix) + bodyLen + checksumLen

	alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// ErrMalformed means a string is not a well-formed secret (wrong prefix,
// length, alphabet or checksum).
var ErrMalformed = errors.New("keys: malformed API key")

// Secret is a full API key secret. Its String method masks it, so a Secret
// printed by mistake does not leak; call Reveal to get the text.
type Secret struct{ s string }

// Reveal returns the whole secret. Call it only to hand the secret to its
// owner, once.
func (s Secret) Reveal() string { return s.s }

// String returns the mask, never the secret.
func (s Secret) String() string { return Mask(s.s) }

// Hash returns the secret's one-way hash.
func (s Secret) Hash() Hash { return HashOf(s.s) }

// Generate returns a new random secret.
func Generate() (Secret, error) {
	buf := make([]byte, SecretLen)
	copy(buf, Prefix)
	body := buf[len(Prefix) : len(Prefix)+bodyLen]
	// Rejection sampling keeps every character uniform: 248 = 4*62 is the
	// largest multiple of 62 that fits in a byte.
	var rnd [64]byte
	for i := 0; i < bodyLen; {
		if _, err := rand.Read(rnd[:]); err != nil {
			return Secret{}, err
		}
		for _, b := range rnd {
			if b >= 248 {
				continue
			}
			body[i] = alphabet[b%62]
			i++
			if i == bodyLen {
				break
			}
		}
	}
	putChecksum(buf[len(Prefix)+bodyLen:], crc32.ChecksumIEEE(buf[:len(Prefix)+bodyLen]))
	return Secret{s: string(buf)}, nil
}

func putChecksum(dst []byte, sum uint32) {
	for i := checksumLen - 1; i >= 0; i-- {
		dst[i] = alphabet[sum%62]
		sum /= 62
	}
}

// Parse validates s as a secret without any I/O and returns it.
func Parse(s string) (Secret, error) {
	if !Valid(s) {
		return Secret{}, ErrMalformed
	}
	return Secret{s: s}, nil
}

// Valid reports whether s is a well-formed secret. It does not allocate.
func Valid(s string) bool {
	if len(s) != SecretLen || s[:len(Prefix)] != Prefix {
		return false
	}
	for i := len(Prefix); i < SecretLen; i++ {
		if decode(s[i]) < 0 {
			return false
		}
	}
	var want [checksumLen]byte
	putChecksum(want[:], crcString(s[:len(Prefix)+bodyLen]))
	return string(want[:]) == s[len(Prefix)+bodyLen:]
}

// crcString is crc32.ChecksumIEEE over a string without copying it to a
// byte slice: Valid runs on every request and must not allocate.
func crcString(s string) uint32 {
	crc := ^uint32(0)
	for i := 0; i < len(s); i++ {
		crc = ieee[byte(crc)^s[i]] ^ (crc >> 8)
	}
	return ^crc
}

var ieee = crc32.MakeTable(crc32.IEEE)

func decode(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 36
	}
	return -1
}

// Hash is the SHA-256 of a secret. A fast hash is right here: the secret
// carries 238 random bits, so there is nothing to brute-force, and the
// gateway hashes on every request. It is comparable, so it keys maps
// without allocating.
type Hash [sha256.Size]byte

// HashOf returns the hash of secret s.
func HashOf(s string) Hash {
	// Sum256 neither keeps nor changes its input, so viewing the string's
	// bytes without a copy is safe and saves an allocation per request.
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// String returns the hash in lower-case hex, the form stored in the database.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// ParseHash decodes the hex form of a hash.
func ParseHash(s string) (Hash, error) { return ParseHashBytes([]byte(s)) }

// ParseHashBytes is ParseHash for bytes, e.g. a database driver's buffer,
// without copying them.
func ParseHashBytes(b []byte) (Hash, error) {
	var h Hash
	if len(b) != 2*len(h) {
		return h, errors.New("keys: bad hash length")
	}
	_, err := hex.Decode(h[:], b)
	return h, err
}

// Equal compares two hashes in constant time.
func (h Hash) Equal(o Hash) bool { return subtle.ConstantTimeCompare(h[:], o[:]) == 1 }

// maskStars is fixed so a mask never reveals a secret's length.
const maskStars = "**********"

// Mask returns the display form of a secret: "sk-oa" + ten stars + its last
// four characters, e.g. sk-oa**********25xx.
func Mask(s string) string {
	if len(s) < 9 {
		return "sk-oa" + maskStars
	}
	return "sk-oa" + maskStars + s[len(s)-4:]
}
