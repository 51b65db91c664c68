package keysnapshot

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/oais/oais/gateway"
	"github.com/oais/oais/internal/keys"
)

// key is one API key as the snapshot keeps it: what its Principal is built
// from, 96 bytes, where a Principal takes 216 and the ent row it used to
// keep took about a kilobyte. A million keys must fit in a few hundred MB
// (issue #7), so Principals are built on a key's first Lookup, not at load.
type key struct {
	hash keys.Hash
	// p is the Principal last built from this key (nil before its first
	// Lookup), or moved once a newer version of the key is in
	// Snapshot.recent. A Principal is valid while its Workspace is still
	// the workspace's current policy.
	p atomic.Pointer[gateway.Principal]
	keyFields
}

// keyFields are a key's columns. They never change once the key is
// published: a changed key is a new key.
type keyFields struct {
	id     string
	ws     *workspace
	more   *keyMore // nil for most keys
	rpm    int64
	tpm    int64
	status uint8 // index into statuses
	reason uint8 // index into reasons
	cache  bool
}

// keyMore holds what few keys have, to keep key small.
type keyMore struct {
	// maxRequests and requestCount as stored when maxRequests > 0; see
	// keys.State.
	maxRequests   int64
	requestCount  int64
	expiresAt     time.Time
	graceUntil    time.Time
	allowedModels []string
	ipAllowlist   []netip.Prefix
	requestGen    int64  // gateway.KeyPolicy.RequestGen, when maxRequests > 0
	creditQuota   int64  // micro-dollars; 0: none
	creditUsed    int64  // micro-dollars, when creditQuota > 0
	groupID       string // gateway.KeyPolicy.GroupID
	gatewayName   string // gateway.KeyPolicy.GatewayName
}

// The stored values of a key's status and revoke reason, by their code in
// key. An unknown status fails closed (disabled); see decodeKey.
var (
	statuses = [...]keys.Status{keys.StatusActive, keys.StatusDisabled, keys.StatusRevoked}
	reasons  = [...]keys.RevokeReason{"", keys.ReasonManual, keys.ReasonBulk, keys.ReasonLeaked, keys.ReasonRotated}
)

// moved marks an indexed key whose newer version is in Snapshot.recent.
var moved = new(gateway.Principal)

// workspace is a workspace's current policy, shared by its keys; a change
// stores a new policy, and every key's Principal is rebuilt at its next
// Lookup, so a workspace change costs O(1), not O(its keys).
type workspace struct {
	policy atomic.Pointer[gateway.WorkspacePolicy]
}

// build returns a new Principal of k in workspace w.
func (k *key) build(w *gateway.WorkspacePolicy, ttl time.Duration) *gateway.Principal {
	p := &gateway.Principal{
		Key: gateway.KeyPolicy{
			ID:           k.id,
			WorkspaceID:  w.ID,
			State:        keys.State{Status: statuses[k.status], RevokeReason: reasons[k.reason]},
			RPM:          k.rpm,
			TPM:          k.tpm,
			CacheEnabled: k.cache,
			CacheTTL:     ttl,
		},
		Workspace: w,
	}
	if m := k.more; m != nil {
		p.Key.State.MaxRequests, p.Key.State.RequestCount = m.maxRequests, m.requestCount
		p.Key.State.ExpiresAt, p.Key.State.GraceUntil = m.expiresAt, m.graceUntil
		p.Key.AllowedModels, p.Key.IPAllowlist = m.allowedModels, m.ipAllowlist
		p.Key.RequestGen = m.requestGen
		p.Key.CreditQuotaMicros, p.Key.CreditUsedMicros = m.creditQuota, m.creditUsed
		p.Key.GroupID, p.Key.GatewayName = m.groupID, m.gatewayName
	}
	return p
}

// index is an open-addressing hash table over keys loaded in bulk: 8 bytes
// a slot at a load factor of at most 0.7, where a Go map of hash to pointer
// costs about 100 bytes a key. It is never written once published, except
// for its keys' atomic p; changes go to Snapshot.recent until the next
// rebuild.
type index struct {
	// slots hold 0 (empty) or the high 32 bits of a key's tag (bytes 8 to
	// 11 of its hash, so a probe rarely reads a key it does not want) and
	// in the low 32 bits its position in chunks plus one.
	slots  []uint64
	chunks [][]key // chunkSize keys each, so loading never copies keys
	n      int
	moved  int // keys marked moved; written under Snapshot.mu
}

const (
	chunkBits = 12
	chunkSize = 1 << chunkBits
)

func (x *index) at(i uint32) *key { return &x.chunks[i>>chunkBits][i&(chunkSize-1)] }

// find returns the indexed key of hash h, or nil.
func (x *index) find(h keys.Hash) *key {
	n := uint64(len(x.slots))
	if n == 0 {
		return nil
	}
	// SHA-256 is uniform: its first 8 bytes pick the slot (Lemire's
	// multiply-shift reduction, no modulo) and the next 4 are the tag.
	i, _ := bits.Mul64(binary.LittleEndian.Uint64(h[:8]), n)
	tag := uint64(binary.LittleEndian.Uint32(h[8:12]))
	for {
		s := x.slots[i]
		if s == 0 {
			return nil
		}
		if s>>32 == tag {
			if k := x.at(uint32(s) - 1); k.hash == h {
				return k
			}
		}
		if i++; i == n {
			i = 0
		}
	}
}

// builder collects keys for a new index.
type builder struct {
	chunks [][]key
	n      int
}

// add appends a key and returns it, for its fields to be set.
func (b *builder) add(h keys.Hash, f *keyFields) *key {
	if b.n&(chunkSize-1) == 0 {
		b.chunks = append(b.chunks, make([]key, chunkSize))
	}
	k := &b.chunks[b.n>>chunkBits][b.n&(chunkSize-1)]
	k.hash, k.keyFields = h, *f
	b.n++
	return k
}

// index builds the table. Keys must have distinct hashes (secret_hash is
// unique).
func (b *builder) index() *index {
	x := &index{chunks: b.chunks, n: b.n}
	if b.n == 0 {
		return x
	}
	n := uint64(b.n)*10/7 + 1
	x.slots = make([]uint64, n)
	for p := 0; p < b.n; p++ {
		h := &x.at(uint32(p)).hash
		i, _ := bits.Mul64(binary.LittleEndian.Uint64(h[:8]), n)
		for x.slots[i] != 0 {
			if i++; i == n {
				i = 0
			}
		}
		x.slots[i] = uint64(binary.LittleEndian.Uint32(h[8:12]))<<32 | uint64(p+1)
	}
	return x
}

// arena holds the ids of keys loaded in bulk in a few large blocks rather
// than a million small strings. Bytes are only ever appended, so the
// strings it returns never change.
type arena struct{ buf []byte }

const arenaBlock = 256 << 10

func (a *arena) string(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if cap(a.buf)-len(a.buf) < len(b) {
		a.buf = make([]byte, 0, max(arenaBlock, len(b)))
	}
	off := len(a.buf)
	a.buf = append(a.buf, b...)
	return unsafe.String(&a.buf[off], len(b))
}

// equal reports whether f and g describe the same key.
func (f *keyFields) equal(g *keyFields) bool {
	if f.id != g.id || f.ws != g.ws || f.rpm != g.rpm || f.tpm != g.tpm || f.status != g.status ||
		f.reason != g.reason || f.cache != g.cache {
		return false
	}
	if f.more == nil || g.more == nil {
		return f.more == g.more
	}
	a, b := f.more, g.more
	return a.maxRequests == b.maxRequests && a.requestCount == b.requestCount && a.expiresAt.Equal(b.expiresAt) && a.graceUntil.Equal(b.graceUntil) &&
		slices.Equal(a.allowedModels, b.allowedModels) && slices.Equal(a.ipAllowlist, b.ipAllowlist) &&
		a.requestGen == b.requestGen && a.creditQuota == b.creditQuota && a.creditUsed == b.creditUsed &&
		a.groupID == b.groupID && a.gatewayName == b.gatewayName
}
