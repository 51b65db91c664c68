package billing

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
)

// MaxIdentifierLen is Stripe's limit on a meter event identifier.
const MaxIdentifierLen = 100

// identifierTime has a fixed width, so the workspace part of an identifier
// is exactly what lies between the "oais-" prefix and the last 27 characters,
// and two different (workspace, interval) pairs never print the same string.
const identifierTime = "20060102T150405.000000000Z"

// maxPlainWorkspaceLen keeps a plain identifier within MaxIdentifierLen:
// "oais-" + workspace + "-" + 26-character time.
const maxPlainWorkspaceLen = MaxIdentifierLen - len("oais-") - len("-") - len(identifierTime)

// Identifier returns the meter event identifier of workspaceID's cost for the
// interval starting at intervalStart. It is deterministic (the same instant
// in any time zone gives the same string), unique per (workspace, interval),
// and at most MaxIdentifierLen characters. Stripe drops an event whose
// identifier it has already seen, which is what makes a re-sent period count
// once.
//
// A workspace id that is long or has characters outside [A-Za-z0-9_-] is
// replaced by a hash under a different prefix ("oaish-"), so it cannot
// collide with a plain one.
func Identifier(workspaceID string, intervalStart time.Time) string {
	ts := intervalStart.UTC().Format(identifierTime)
	if len(workspaceID) > 0 && len(workspaceID) <= maxPlainWorkspaceLen && plain(workspaceID) {
		return "oais-" + workspaceID + "-" + ts
	}
	sum := sha256.Sum256([]byte(workspaceID))
	return "oaish-" + hex.EncodeToString(sum[:16]) + "-" + ts
}

func plain(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	}) < 0
}
