package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
)

// Password length limits, in bytes. The upper bound keeps a hostile client
// from making us hash megabytes per request.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 256
)

// OWASP's first recommended argon2id setting (Password Storage Cheat Sheet):
// 19 MiB, 2 passes, 1 lane. Memory is in KiB.
const (
	DefaultArgon2Memory  = 19 * 1024
	DefaultArgon2Time    = 2
	DefaultArgon2Threads = 1
	argon2SaltLen        = 16
	argon2KeyLen         = 32
)

// Bounds on parameters read back from a stored hash, so a corrupted or
// planted row cannot make one verification allocate gigabytes.
const (
	maxArgon2Memory  = 256 * 1024
	maxArgon2Time    = 16
	maxArgon2Threads = 16
)

// Argon2Params are the argon2id cost parameters used for new hashes.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// PasswordParams are the parameters HashPassword uses. Tests may lower them
// (see TestPasswordParams); production code leaves them alone. Existing
// hashes keep verifying with the parameters encoded in them.
var PasswordParams = Argon2Params{Memory: DefaultArgon2Memory, Time: DefaultArgon2Time, Threads: DefaultArgon2Threads}

// TestPasswordParams is a cheap setting for tests only: it keeps the -race
// suite fast on small machines and must never reach production.
var TestPasswordParams = Argon2Params{Memory: 64, Time: 1, Threads: 1}

// dummyHash is verified against when an account does not exist so that the
// response time does not reveal which emails are registered. It is made
// lazily so importing the package costs no hashing.
var dummyHash = sync.OnceValue(func() string {
	h, err := hashWith(PasswordParams, "oais-dummy-password")
	if err != nil {
		panic(err)
	}
	return h
})

// HashPassword hashes pw with argon2id and returns it in PHC string format:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash> (unpadded standard base64).
func HashPassword(pw string) (string, error) {
	if len(pw) < MinPasswordLen {
		return "", ErrWeakPassword
	}
	if len(pw) > MaxPasswordLen {
		return "", ErrPasswordTooLong
	}
	return hashWith(PasswordParams, pw)
}

func hashWith(p Argon2Params, pw string) (string, error) {
	salt := make([]byte, argon2SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: read salt: %w", err)
	}
	key := argon2Key(pw, salt, p, argon2KeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// hashSlots bounds the argon2 computations running at once. Each holds
// Memory KiB (19 MiB by default, up to maxArgon2Memory for a stored hash)
// while it runs, and each is CPU-bound, so running more of them than there
// are CPUs adds memory and no throughput: a burst of sign-ins from many
// addresses (each under its own throttle) waits here instead of
// allocating gigabytes (2,000 at once would be 37 GiB).
var hashSlots = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))

// hashing counts the computations inside hashSlots, and hashingPeak the
// most there were at once: the test that bursts sign-ins reads it.
var hashing, hashingPeak atomic.Int32

// argon2Key is argon2.IDKey within hashSlots.
func argon2Key(pw string, salt []byte, p Argon2Params, keyLen uint32) []byte {
	hashSlots <- struct{}{}
	defer func() { <-hashSlots }()
	n := hashing.Add(1)
	defer hashing.Add(-1)
	for peak := hashingPeak.Load(); n > peak && !hashingPeak.CompareAndSwap(peak, n); peak = hashingPeak.Load() {
	}
	return argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, keyLen)
}

// VerifyPassword reports whether pw matches the PHC-encoded argon2id hash.
// The comparison is constant-time. A mismatch is (false, nil); an error means
// the hash itself is unusable (ErrInvalidHash) or pw is over MaxPasswordLen.
// Short passwords are still checked: the minimum applies to new passwords.
func VerifyPassword(encoded, pw string) (bool, error) {
	if len(pw) > MaxPasswordLen {
		return false, ErrPasswordTooLong
	}
	p, salt, want, err := decodeHash(encoded)
	if err != nil {
		return false, err
	}
	got := argon2Key(pw, salt, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// EqualizePasswordTiming spends as long as one VerifyPassword with the
// current parameters. Call it when a sign-in names an unknown account.
func EqualizePasswordTiming(pw string) {
	if len(pw) > MaxPasswordLen {
		return
	}
	_, _ = VerifyPassword(dummyHash(), pw)
}

// NeedsRehash reports whether encoded was made with parameters other than
// PasswordParams, so a successful sign-in can upgrade it.
func NeedsRehash(encoded string) bool {
	p, _, _, err := decodeHash(encoded)
	return err != nil || p != PasswordParams
}

func decodeHash(encoded string) (Argon2Params, []byte, []byte, error) {
	var p Argon2Params
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("%w: not argon2id PHC", ErrInvalidHash)
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, fmt.Errorf("%w: unsupported version", ErrInvalidHash)
	}
	var threads uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &threads); err != nil {
		return p, nil, nil, fmt.Errorf("%w: bad parameters", ErrInvalidHash)
	}
	if p.Memory == 0 || p.Memory > maxArgon2Memory || p.Time == 0 || p.Time > maxArgon2Time ||
		threads == 0 || threads > maxArgon2Threads || p.Memory < 8*threads {
		return p, nil, nil, fmt.Errorf("%w: parameters out of range", ErrInvalidHash)
	}
	p.Threads = uint8(threads)
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return p, nil, nil, fmt.Errorf("%w: bad salt", ErrInvalidHash)
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, fmt.Errorf("%w: bad key", ErrInvalidHash)
	}
	return p, salt, key, nil
}
