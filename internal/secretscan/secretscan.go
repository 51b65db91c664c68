// Package secretscan receives GitHub's secret-scanning partner reports: when
// GitHub finds an oais API key in a public repository, gist, issue or npm
// package it POSTs the match here, signed with one of its published ECDSA
// keys, and we revoke the key as leaked at once. The answer tells GitHub
// which matches were real keys (its false-positive feedback format).
package secretscan

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/apikey"
	"github.com/oais/oais/internal/apikeys"
	"github.com/oais/oais/internal/keys"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/viewer"
)

// Path is where GitHub is told to deliver reports.
const Path = "/secret-scanning/github"

// TokenType is the secret type registered with GitHub for oais keys.
const TokenType = "oais_api_key"

// Bounds of a report. GitHub batches matches; a thousand keys is far more
// than one push leaks, and the body limit keeps a batch well inside it.
const (
	MaxBody    = 1 << 20
	MaxMatches = 1000
)

// Headers GitHub signs a report with.
const (
	headerKeyID     = "Github-Public-Key-Identifier"
	headerSignature = "Github-Public-Key-Signature"
)

// Labels of the feedback GitHub accepts; only these two strings.
const (
	LabelTruePositive  = "true_positive"
	LabelFalsePositive = "false_positive"
)

// sourcePrefix starts the leak source recorded on the key and in the audit
// line. ReportLeaked records the reporter of a viewer without a user as
// "anonymous", so the source is what names GitHub.
const sourcePrefix = "github secret scanning"

// maxURLLen keeps the recorded source under apikeys.MaxLeakSourceLn (the
// column's limit) with room for the prefix, so nothing is cut mid-rune.
const maxURLLen = apikeys.MaxLeakSourceLn - len(sourcePrefix) - 2

// Match is one secret GitHub found.
type Match struct {
	Token  string `json:"token"`
	Type   string `json:"type"`
	URL    string `json:"url"`
	Source string `json:"source"`
}

// Feedback is GitHub's false-positive feedback for one match.
type Feedback struct {
	TokenRaw  string `json:"token_raw"`
	TokenType string `json:"token_type"`
	Label     string `json:"label"`
}

// Errors of a report, mapped to the wire by status.
var (
	errNotConfigured = errors.New("secretscan: no public keys configured")
	errTooLarge      = errors.New("secretscan: report body too large")
	errUnsigned      = errors.New("secretscan: report is not signed")
	errBadSignature  = errors.New("secretscan: bad signature")
	errMalformed     = errors.New("secretscan: report is not a JSON array of matches")
	errTooMany       = errors.New("secretscan: too many matches in one report")
	errMethod        = errors.New("secretscan: method not allowed")
)

// status maps an error of a report to the HTTP status and the message sent
// back; nothing else about it reaches the sender.
func status(err error) (int, string) {
	switch {
	case errors.Is(err, errMethod):
		return http.StatusMethodNotAllowed, "method not allowed"
	case errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge, "body too large"
	case errors.Is(err, errUnsigned), errors.Is(err, errBadSignature), errors.Is(err, ErrUnknownKey):
		return http.StatusUnauthorized, "invalid signature"
	case errors.Is(err, errMalformed):
		return http.StatusBadRequest, "body must be a JSON array of matches"
	case errors.Is(err, errTooMany):
		return http.StatusBadRequest, "too many matches in one report"
	case errors.Is(err, errNotConfigured), errors.Is(err, ErrKeysUnavailable), errors.Is(err, store.ErrUnavailable):
		// GitHub retries a report that fails; an outage must not lose it.
		return http.StatusServiceUnavailable, "temporarily unavailable"
	}
	return http.StatusInternalServerError, "internal error"
}

// Handler returns the handler for POST Path. It verifies the report's
// signature against keys before it reads a match, revokes every match that
// is a live oais key as leaked (svc.ReportLeaked, with the system's
// authority: the reporter is GitHub, not a user), and answers with a label
// per match. It logs counts, never a token.
func Handler(client *ent.Client, svc *apikeys.Service, keys PublicKeys, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &handler{client: client, svc: svc, keys: keys, log: log.With("component", "secretscan")}
}

type handler struct {
	client *ent.Client
	svc    *apikeys.Service
	keys   PublicKeys
	log    *slog.Logger
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	feedback, err := h.serve(w, r)
	if err != nil {
		code, msg := status(err)
		switch {
		case code >= 500:
			h.log.ErrorContext(r.Context(), "secret-scanning report failed", "err", err)
		default:
			// The key identifier is public; it helps tell a misconfigured
			// key source from a forger.
			h.log.WarnContext(r.Context(), "secret-scanning report rejected", "status", code, "err", err,
				"key_id", store.Truncate(r.Header.Get(headerKeyID), 100), "remote", r.RemoteAddr)
		}
		if code == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", http.MethodPost)
		}
		http.Error(w, msg, code)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(feedback)
}

func (h *handler) serve(w http.ResponseWriter, r *http.Request) ([]Feedback, error) {
	if r.Method != http.MethodPost {
		return nil, errMethod
	}
	if h.keys == nil {
		return nil, errNotConfigured
	}
	// An unsigned report is refused before its body is read.
	if r.Header.Get(headerKeyID) == "" || r.Header.Get(headerSignature) == "" {
		return nil, errUnsigned
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, errTooLarge
		}
		return nil, errors.Join(errMalformed, err)
	}
	if err := h.verify(r.Context(), r.Header, body); err != nil {
		return nil, err
	}
	matches, err := ParseReport(body)
	if err != nil {
		return nil, err
	}
	return h.report(r.Context(), matches)
}

// verify checks the signature of body: base64 of an ASN.1 ECDSA signature
// over its SHA-256, by the key the identifier header names.
func (h *handler) verify(ctx context.Context, hdr http.Header, body []byte) error {
	id, sig := strings.TrimSpace(hdr.Get(headerKeyID)), strings.TrimSpace(hdr.Get(headerSignature))
	if id == "" || sig == "" {
		return errUnsigned
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return errBadSignature
	}
	pub, err := h.keys.PublicKey(ctx, id)
	if err != nil {
		return err
	}
	digest := sha256.Sum256(body)
	if !ecdsa.VerifyASN1(pub, digest[:], raw) {
		return errBadSignature
	}
	return nil
}

// ParseReport decodes a report body: a JSON array of at most MaxMatches
// matches. It only parses; a match's token may be anything.
func ParseReport(body []byte) ([]Match, error) {
	var matches []Match
	if err := json.Unmarshal(body, &matches); err != nil {
		return nil, errors.Join(errMalformed, err)
	}
	if matches == nil { // "null"
		return nil, errMalformed
	}
	if len(matches) > MaxMatches {
		return nil, errTooMany
	}
	return matches, nil
}

// report revokes the live keys among matches and labels every match. A
// failed revocation fails the report, so GitHub sends it again.
func (h *handler) report(ctx context.Context, matches []Match) ([]Feedback, error) {
	out := make([]Feedback, 0, len(matches))
	labels := make(map[string]string, len(matches)) // a token repeated in a batch gets one answer
	var revoked, unknown, malformed int
	for _, m := range matches {
		label, seen := labels[m.Token]
		if !seen {
			var err error
			switch {
			case !keys.Valid(m.Token):
				label = LabelFalsePositive
				malformed++
			default:
				var leaked bool
				leaked, err = h.revoke(ctx, m)
				if err != nil {
					h.log.ErrorContext(ctx, "secret-scanning report interrupted", "matches", len(matches), "revoked", revoked, "err", err)
					return nil, err
				}
				if leaked {
					label = LabelTruePositive
					revoked++
				} else {
					label = LabelFalsePositive
					unknown++
				}
			}
			labels[m.Token] = label
		}
		typ := m.Type
		if typ == "" {
			typ = TokenType
		}
		out = append(out, Feedback{TokenRaw: m.Token, TokenType: typ, Label: label})
	}
	h.log.InfoContext(ctx, "secret-scanning report", "matches", len(matches), "revoked", revoked,
		"unknown_or_already_leaked", unknown, "malformed", malformed)
	return out, nil
}

// revoke revokes the key whose secret m.Token is, and reports whether it
// did: false for a key we never issued or one already revoked as leaked (a
// replayed report changes nothing and writes no second audit line).
func (h *handler) revoke(ctx context.Context, m Match) (bool, error) {
	sys := viewer.SystemContext(ctx)
	hash := keys.HashOf(m.Token).String()
	notLeaked := apikey.Or(apikey.StatusNEQ(apikey.StatusREVOKED), apikey.RevokeReasonIsNil(), apikey.RevokeReasonNEQ(apikey.RevokeReasonLEAKED))
	// A read first keeps unknown and replayed tokens, the common case, out
	// of write transactions.
	live, err := h.client.APIKey.Query().Where(apikey.SecretHash(hash), notLeaked).Exist(sys)
	if err != nil || !live {
		return false, store.Classify(err)
	}
	tx, err := h.client.Tx(sys)
	if err != nil {
		return false, store.Classify(err)
	}
	// The conditional update claims the key: it row-locks it, so of two
	// reports of one key delivered together only one sees it not yet
	// leaked, and the revocation and its audit line commit together.
	n, err := tx.APIKey.Update().Where(apikey.SecretHash(hash), notLeaked).SetLeakedAt(h.now()).Save(sys)
	if err != nil || n == 0 {
		_ = tx.Rollback()
		return false, store.Classify(err)
	}
	if _, err := h.svc.ReportLeaked(sys, tx.Client(), m.Token, leakSource(m.URL)); err != nil && !errors.Is(err, apikeys.ErrNotFound) {
		_ = tx.Rollback()
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return false, store.Classify(err)
	}
	return true, nil
}

func (h *handler) now() time.Time {
	if h.svc != nil && h.svc.Now != nil {
		return h.svc.Now()
	}
	return time.Now()
}

// leakSource is the source recorded on the key: the prefix naming GitHub and
// the URL of the find, made printable and cut to fit the column.
func leakSource(url string) string {
	url = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, url)
	url = strings.TrimSpace(store.Truncate(url, maxURLLen))
	if url == "" {
		return sourcePrefix
	}
	return sourcePrefix + ": " + url
}
