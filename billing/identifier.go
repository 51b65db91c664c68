package billing

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
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

// reissuePrefix starts every identifier after generation 0. It differs from
// "oais-" and "oaish-" at the fifth character, so no reissued identifier can
// equal a first one.
const reissuePrefix = "oaisr-"

// ReissueIdentifier returns the identifier of generation (≥ 1) of the period
// periodID: "oaisr-<period id>-<generation>". It is deterministic, so two
// replicas that reissue the same generation send the same identifier and
// Stripe counts it once; and it is new, so Stripe cannot drop it as the
// repeat of an event it never counted. A period id that does not fit, or
// has characters outside [A-Za-z0-9_-], is hashed under "oaisrh-" (ledger
// ids never need it).
func ReissueIdentifier(periodID string, generation int) string {
	g := strconv.Itoa(generation)
	if len(periodID) > 0 && len(reissuePrefix)+len(periodID)+1+len(g) <= MaxIdentifierLen && plain(periodID) {
		return reissuePrefix + periodID + "-" + g
	}
	sum := sha256.Sum256([]byte(periodID))
	return "oaisrh-" + hex.EncodeToString(sum[:16]) + "-" + g
}

// ParseReissueIdentifier returns the period id and generation of an
// identifier ReissueIdentifier made in its plain form; ok is false for any
// other string, generation-0 identifiers included.
func ParseReissueIdentifier(identifier string) (periodID string, generation int, ok bool) {
	rest, found := strings.CutPrefix(identifier, reissuePrefix)
	i := strings.LastIndexByte(rest, '-')
	if !found || i <= 0 {
		return "", 0, false
	}
	g, err := strconv.Atoi(rest[i+1:])
	if err != nil || g < 1 || strconv.Itoa(g) != rest[i+1:] {
		return "", 0, false
	}
	return rest[:i], g, true
}
