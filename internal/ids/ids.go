// Package ids makes the public identifiers of every record: a short type
// prefix and a time-ordered ULID, e.g. key_01JD5Y0G8S9W7Q3M4N5P6R7T8V. The
// prefix tells a human (and the Relay node resolver) what an id names, and
// time order keeps B-tree inserts local.
package ids

import (
	"crypto/rand"
	"crypto/sha256"
	"strings"
	"sync"
	"time"
)

// Prefixes of each type's ids. The GraphQL node resolver maps them back to tables.
const (
	Workspace     = "ws"
	User          = "usr"
	Membership    = "mem"
	APIKey        = "key"
	UsageEvent    = "use"
	ModelPrice    = "price"
	AuditEvent    = "aud"
	BillingAcct   = "bill"
	BillingPeriod = "per"
	SigningKey    = "sig"
	RefreshToken  = "rt"
	Upstream      = "up"
	UsageRollup   = "ur"
	LatencyRollup = "lr"
	Invitation    = "inv"
	EmailToken    = "etk"
	ServiceToken  = "stk"
	RecoveryCode  = "rc"
	Channel       = "ch"
	Group         = "grp"
	Gateway       = "gw"
)

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// New returns a new id with prefix p.
func New(p string) string { return NewAt(p, time.Now()) }

// Ids made by one process in the same millisecond increase: the random part
// of the previous id is incremented (ULID's monotonic mode), so ordering by
// id is ordering by creation even within a millisecond.
var (
	mono     sync.Mutex
	lastMS   uint64
	lastRand [10]byte
)

// NewAt returns a new id with prefix p whose time part is t.
func NewAt(p string, t time.Time) string {
	var b [16]byte
	ms := uint64(t.UnixMilli())
	mono.Lock()
	if ms == lastMS {
		for i := len(lastRand) - 1; i >= 0; i-- {
			lastRand[i]++
			if lastRand[i] != 0 {
				break
			}
		}
	} else {
		if _, err := rand.Read(lastRand[:]); err != nil {
			mono.Unlock()
			panic("ids: crypto/rand failed: " + err.Error())
		}
		// Leave headroom so increments within a millisecond cannot wrap.
		lastRand[0] &= 0x7f
		lastMS = ms
	}
	copy(b[6:], lastRand[:])
	mono.Unlock()
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	return format(p, b)
}

// Derived returns the id with prefix p, time part t and the random part
// taken from seed's SHA-256: the same arguments always give the same id, so
// a record that must exist at most once (one audit line per key and minute)
// can be inserted by several replicas and stored once.
func Derived(p string, t time.Time, seed string) string {
	var b [16]byte
	sum := sha256.Sum256([]byte(seed))
	copy(b[6:], sum[:10])
	ms := uint64(t.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	return format(p, b)
}

// Floor returns the smallest id with prefix p and time part t: ids of one
// type compare as strings in time order, so [Floor(p, a), Floor(p, b))
// selects the ids made in [a, b) by their primary key alone.
func Floor(p string, t time.Time) string {
	var b [16]byte
	ms := uint64(t.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	return format(p, b)
}

func format(p string, b [16]byte) string {
	var out strings.Builder
	out.Grow(len(p) + 1 + 26)
	out.WriteString(p)
	out.WriteByte('_')
	// 128 bits as 26 base32 digits, most significant first (ULID layout).
	var hi, lo uint64
	for i := 0; i < 8; i++ {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[8+i])
	}
	var digits [26]byte
	for i := 25; i >= 0; i-- {
		digits[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	out.Write(digits[:])
	return out.String()
}

// Prefix returns the type prefix of id, or "" if it has none.
func Prefix(id string) string {
	i := strings.IndexByte(id, '_')
	if i <= 0 {
		return ""
	}
	return id[:i]
}
