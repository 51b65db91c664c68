package secretscan

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// EnvKeys names the setting that says where GitHub's verification keys come
// from; LoadKeys reads its value.
const EnvKeys = "OAIS_SECRET_SCANNING_KEYS"

// GitHubKeysURL is where GitHub publishes the keys that sign its
// secret-scanning reports.
const GitHubKeysURL = "https://api.github.com/meta/public_keys/secret_scanning"

// Bounds of the key source. GitHub's document holds a handful of keys, well
// under a KiB each.
const (
	maxKeysDocument = 1 << 20
	maxKeys         = 100
	fetchTimeout    = 10 * time.Second
	// RemoteKeys refetches at most this often when asked for an identifier
	// it does not know, so forged identifiers cannot make us hammer GitHub,
	// and keeps a document at most keysMaxAge before refetching it anyway.
	keysMinRefresh = time.Minute
	keysMaxAge     = 24 * time.Hour
)

// Errors of a key source.
var (
	// ErrUnknownKey means no key has the identifier a report names.
	ErrUnknownKey = errors.New("secretscan: unknown public key identifier")
	// ErrKeysUnavailable means the keys could not be fetched; the report
	// should be retried later.
	ErrKeysUnavailable = errors.New("secretscan: public keys unavailable")
)

// PublicKeys finds the ECDSA P-256 key GitHub signed a report with, by the
// report's Github-Public-Key-Identifier. It returns ErrUnknownKey when no key
// has that identifier.
type PublicKeys interface {
	PublicKey(ctx context.Context, id string) (*ecdsa.PublicKey, error)
}

// keySet is a fixed set of keys, by identifier.
type keySet map[string]*ecdsa.PublicKey

var (
	_ PublicKeys = keySet(nil)
	_ PublicKeys = (*RemoteKeys)(nil)
)

func (s keySet) PublicKey(_ context.Context, id string) (*ecdsa.PublicKey, error) {
	if k, ok := s[id]; ok {
		return k, nil
	}
	return nil, ErrUnknownKey
}

// keysDocument is the shape of GitHubKeysURL.
type keysDocument struct {
	PublicKeys []struct {
		KeyIdentifier string `json:"key_identifier"`
		Key           string `json:"key"`
		IsCurrent     bool   `json:"is_current"`
	} `json:"public_keys"`
}

// ParseKeys reads a document in the shape of GitHubKeysURL. Every key listed
// verifies, current or not: GitHub keeps signing with an older key for a
// while after it rotates. A key that is not a PEM ECDSA P-256 public key, a
// missing or repeated identifier, or an empty list is an error.
func ParseKeys(doc []byte) (PublicKeys, error) {
	s, err := parseKeySet(doc)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func parseKeySet(doc []byte) (keySet, error) {
	var d keysDocument
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("secretscan: public keys: not a JSON document like %s: %w", GitHubKeysURL, err)
	}
	if len(d.PublicKeys) == 0 {
		return nil, errors.New("secretscan: public keys: public_keys lists no key")
	}
	if len(d.PublicKeys) > maxKeys {
		return nil, fmt.Errorf("secretscan: public keys: more than %d keys", maxKeys)
	}
	s := make(keySet, len(d.PublicKeys))
	for i, k := range d.PublicKeys {
		if k.KeyIdentifier == "" {
			return nil, fmt.Errorf("secretscan: public keys: key %d has no key_identifier", i)
		}
		if _, dup := s[k.KeyIdentifier]; dup {
			return nil, fmt.Errorf("secretscan: public keys: key_identifier %q appears twice", k.KeyIdentifier)
		}
		pub, err := parsePEM(k.Key)
		if err != nil {
			return nil, fmt.Errorf("secretscan: public keys: key %q: %w", k.KeyIdentifier, err)
		}
		s[k.KeyIdentifier] = pub
	}
	return s, nil
}

func parsePEM(text string) (*ecdsa.PublicKey, error) {
	block, _ := pem.Decode([]byte(text))
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New("not a PEM PUBLIC KEY block")
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	pub, ok := k.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, errors.New("not an ECDSA P-256 key")
	}
	return pub, nil
}

// FetchKeys gets and parses the keys document at url (GitHubKeysURL in
// production) with c (http.DefaultClient if nil).
func FetchKeys(ctx context.Context, c *http.Client, url string) (PublicKeys, error) {
	s, err := fetchKeySet(ctx, c, url)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func fetchKeySet(ctx context.Context, c *http.Client, url string) (keySet, error) {
	if c == nil {
		c = http.DefaultClient
	}
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("secretscan: public keys: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, fmt.Errorf("%w: GET %s: %s", ErrKeysUnavailable, url, resp.Status)
	}
	doc, err := io.ReadAll(io.LimitReader(resp.Body, maxKeysDocument+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
	}
	if len(doc) > maxKeysDocument {
		return nil, fmt.Errorf("%w: GET %s: document larger than %d bytes", ErrKeysUnavailable, url, maxKeysDocument)
	}
	s, err := parseKeySet(doc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
	}
	return s, nil
}

// RemoteKeys is a PublicKeys that fetches the document at a URL on first use
// and caches it: it refetches when asked for an identifier it does not know
// (GitHub has rotated) at most once a minute, and once a day regardless. If
// a refetch fails it keeps answering from the document it has.
type RemoteKeys struct {
	client *http.Client
	url    string
	now    func() time.Time

	mu      sync.Mutex // held across a fetch, so concurrent misses fetch once
	set     keySet
	fetched time.Time // last attempt, successful or not
}

// NewRemoteKeys returns keys fetched from url with c (http.DefaultClient if nil).
func NewRemoteKeys(c *http.Client, url string) *RemoteKeys {
	return &RemoteKeys{client: c, url: url, now: time.Now}
}

// PublicKey returns the key with identifier id, fetching the document if it
// is missing, stale, or lacks id.
func (r *RemoteKeys) PublicKey(ctx context.Context, id string) (*ecdsa.PublicKey, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	age := now.Sub(r.fetched)
	k, known := r.set[id]
	switch {
	case known && age < keysMaxAge:
		return k, nil
	case !r.fetched.IsZero() && age < keysMinRefresh:
		if known {
			return k, nil
		}
		if r.set == nil {
			return nil, ErrKeysUnavailable
		}
		return nil, ErrUnknownKey
	}
	r.fetched = now
	// The fetch outlives a caller that gives up: its result serves the
	// next report, and a cancelled fetch would block refetching for a minute.
	s, err := fetchKeySet(context.WithoutCancel(ctx), r.client, r.url)
	if err != nil {
		if known {
			return k, nil // stale beats none while GitHub is unreachable
		}
		return nil, err
	}
	r.set = s
	return s.PublicKey(ctx, id)
}

// LoadKeys returns the key source that the value of EnvKeys describes:
// empty for GitHub's published keys (fetched with c and cached), an http(s)
// URL for a document served there, a JSON document itself (starting with
// "{"), or else the path of a file holding one.
func LoadKeys(spec string, c *http.Client) (PublicKeys, error) {
	spec = strings.TrimSpace(spec)
	switch {
	case spec == "":
		return NewRemoteKeys(c, GitHubKeysURL), nil
	case strings.HasPrefix(spec, "https://"), strings.HasPrefix(spec, "http://"):
		return NewRemoteKeys(c, spec), nil
	case strings.HasPrefix(spec, "{"):
		return ParseKeys([]byte(spec))
	}
	doc, err := os.ReadFile(spec)
	if err != nil {
		return nil, fmt.Errorf("secretscan: public keys: %w", err)
	}
	return ParseKeys(doc)
}
