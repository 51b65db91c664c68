// Package restapi is the control plane's small REST face for automation
// (CI scripts, Terraform-style tools): /api/v1/keys beside GraphQL, with the
// same session JWT or service token, the same tenancy, validation, error
// codes and audit lines. It decodes and encodes JSON only; every rule lives
// in internal/apikeys, which the GraphQL resolvers call too, and ent privacy
// rules keep each workspace's keys to its members below both.
package restapi

import (
	"context"
	_ "embed"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/oais/oais/auth/accounts"
	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/apikey"
	"github.com/oais/oais/graph"
	"github.com/oais/oais/internal/apikeys"
	"github.com/oais/oais/internal/ids"
	"github.com/oais/oais/internal/keys"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/userinput"
	"github.com/oais/oais/internal/viewer"
)

// Prefix is where the REST face lives; OpenAPIPath serves its description.
const (
	Prefix      = "/api/v1"
	OpenAPIPath = Prefix + "/openapi.json"
)

// Bounds of a request.
const (
	// MaxBody bounds a request body: a key's settings are far smaller
	// (apikeys.MaxModels names of MaxModelLen bytes is 20 KB).
	MaxBody = 64 << 10
	// DefaultLimit and MaxLimit bound a list page (graph.MaxPage likewise).
	DefaultLimit = 50
	MaxLimit     = graph.MaxPage
)

//go:embed openapi.json
var openAPIDocument []byte

// OpenAPIDocument returns the OpenAPI 3.1 description of the REST face.
func OpenAPIDocument() []byte { return openAPIDocument }

// API serves /api/v1.
type API struct {
	Client *ent.Client
	Keys   *apikeys.Service
	Log    *slog.Logger
	Now    func() time.Time
}

// Route is one endpoint: its method, its ServeMux path and its handler.
type Route struct {
	Method, Path string
	handler      func(a *API, w http.ResponseWriter, r *http.Request)
}

// Routes are the endpoints, in the order the OpenAPI document lists them.
// The document's test compares the two.
var Routes = []Route{
	{"GET", Prefix + "/keys", (*API).list},
	{"POST", Prefix + "/keys", (*API).create},
	{"GET", Prefix + "/keys/{id}", (*API).get},
	{"PATCH", Prefix + "/keys/{id}", (*API).patch},
	{"DELETE", Prefix + "/keys/{id}", (*API).delete},
	{"GET", OpenAPIPath, (*API).openAPI},
}

// Register adds the routes to mux, each wrapped by authed (the control
// plane's one authentication middleware), and answers any other GET under
// Prefix with a JSON 404 rather than the dashboard.
func (a *API) Register(mux *http.ServeMux, authed func(http.Handler) http.Handler) {
	for _, rt := range Routes {
		h := rt.handler
		mux.Handle(rt.Method+" "+rt.Path, authed(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-store")
			r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
			h(a, w, r)
		})))
	}
	mux.HandleFunc("GET "+Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, graph.CodeNotFound, "No such endpoint. The endpoints are described at "+OpenAPIPath+".", "")
	})
}

func (a *API) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *API) openAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(openAPIDocument)
}

// Key is an API key as the REST face shows it; never its secret.
type Key struct {
	ID               string      `json:"id"`
	WorkspaceID      string      `json:"workspace_id"`
	Label            string      `json:"label"`
	MaskedKey        string      `json:"masked_key"`
	Status           keys.Status `json:"status"`
	CreatedAt        time.Time   `json:"created_at"`
	ExpiresAt        *time.Time  `json:"expires_at"`
	LastUsedAt       *time.Time  `json:"last_used_at"`
	RevokedAt        *time.Time  `json:"revoked_at"`
	MaxRequests      int64       `json:"max_requests"`
	RequestCount     int64       `json:"request_count"`
	AllowedModels    []string    `json:"allowed_models"`
	IPAllowlist      []string    `json:"ip_allowlist"`
	RPM              *int64      `json:"rpm"`
	TPM              *int64      `json:"tpm"`
	CacheEnabled     bool        `json:"cache_enabled"`
	CreditQuotaCents *int64      `json:"credit_quota_cents"`
	CreditUsedMicros int64       `json:"credit_used_micros"`
}

func (a *API) key(k *ent.APIKey) Key {
	orEmpty := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	return Key{
		ID: k.ID, WorkspaceID: k.WorkspaceID, Label: k.Label, MaskedKey: k.MaskedKey,
		Status: apikeys.Status(k, a.now()), CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt,
		LastUsedAt: k.LastUsedAt, RevokedAt: k.RevokedAt, MaxRequests: k.MaxRequests,
		RequestCount: k.RequestCount, AllowedModels: orEmpty(k.AllowedModels),
		IPAllowlist: orEmpty(k.IPAllowlist), RPM: k.Rpm, TPM: k.Tpm, CacheEnabled: k.CacheEnabled,
		CreditQuotaCents: k.CreditQuotaCents, CreditUsedMicros: k.CreditUsedMicros,
	}
}

// KeyList is a page of keys; NextCursor, when set, is the after of the next page.
type KeyList struct {
	Data       []Key   `json:"data"`
	HasMore    bool    `json:"has_more"`
	NextCursor *string `json:"next_cursor"`
}

// CreatedKey answers a creation: the secret appears here and nowhere else.
type CreatedKey struct {
	Secret string `json:"secret"`
	Key    Key    `json:"key"`
}

// Deleted answers a deletion.
type Deleted struct {
	ID      string `json:"id"`
	Deleted bool   `json:"deleted"`
}

// signedIn refuses a request with no valid session or service token, as
// GraphQL's resolvers do.
func signedIn(ctx context.Context) error {
	if v := viewer.FromContext(ctx); v == nil || v.UserID == "" {
		return graph.ErrUnauthenticated
	}
	return nil
}

// mfaPending answers MFA_REQUIRED, as GraphQL's Principals extension does,
// when the workspace requires a second factor the viewer lacks: tenancy
// hides it (404) and this tells the user why.
func mfaPending(ctx context.Context, c *ent.Client, workspaceID, keyID string) error {
	v := viewer.FromContext(ctx)
	if len(v.MFAPending) == 0 {
		return nil
	}
	if workspaceID == "" && keyID != "" {
		// Read as the system, only to compare with the viewer's own
		// MFA-pending workspaces; nothing about it is answered.
		workspaceID, _ = c.APIKey.Query().Where(apikey.ID(keyID)).Select(apikey.FieldWorkspaceID).String(viewer.SystemContext(ctx))
	}
	if workspaceID != "" && v.MFAPendingIn(workspaceID) {
		return errMFARequired
	}
	return nil
}

// inTx runs f in one transaction, as GraphQL's mutations run (entgql's
// Transactioner): the change, its audit line and the gateways' change
// notice commit together or not at all.
func (a *API) inTx(ctx context.Context, f func(ctx context.Context, c *ent.Client) error) error {
	tx, err := a.Client.Tx(ctx)
	if err != nil {
		return store.Classify(err)
	}
	ctx = ent.NewTxContext(ctx, tx)
	ctx = ent.NewContext(ctx, tx.Client())
	if err := f(ctx, tx.Client()); err != nil {
		_ = tx.Rollback()
		return err
	}
	return store.Classify(tx.Commit())
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ws, err := workspaceParam(r)
	if err == nil {
		err = signedIn(ctx)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	limit := DefaultLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			a.fail(w, r, userinput.Errorf("limit", "must be a whole number from 1 to %d", MaxLimit))
			return
		}
		limit = n
	}
	after := q.Get("after")
	if after != "" && ids.Prefix(after) != ids.APIKey {
		a.fail(w, r, userinput.Errorf("after", "not a cursor: pass the next_cursor of the previous page"))
		return
	}
	if err := mfaPending(ctx, a.Client, ws, ""); err != nil {
		a.fail(w, r, err)
		return
	}
	// Another workspace, or none: 404 like any record the viewer may not see.
	if _, err := a.Client.Workspace.Get(ctx, ws); err != nil {
		a.fail(w, r, store.Classify(err))
		return
	}
	kq := a.Client.APIKey.Query().Where(apikey.WorkspaceID(ws)).Order(ent.Asc(apikey.FieldID)).Limit(limit + 1)
	if after != "" {
		kq.Where(apikey.IDGT(after))
	}
	ks, err := kq.All(ctx)
	if err != nil {
		a.fail(w, r, store.Classify(err))
		return
	}
	out := KeyList{Data: make([]Key, 0, len(ks))}
	if len(ks) > limit {
		ks, out.HasMore = ks[:limit], true
		next := ks[limit-1].ID
		out.NextCursor = &next
	}
	for _, k := range ks {
		out.Data = append(out.Data, a.key(k))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) create(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ws, err := workspaceParam(r)
	if err == nil {
		err = signedIn(ctx)
	}
	var p apikeys.CreateParams
	if err == nil {
		p, err = decodeCreate(r)
	}
	if err == nil {
		err = mfaPending(ctx, a.Client, ws, "")
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p.WorkspaceID = ws
	var c *apikeys.Created
	err = a.inTx(ctx, func(ctx context.Context, tx *ent.Client) error {
		c, err = a.Keys.Create(ctx, tx, p)
		return err
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", Prefix+"/keys/"+c.Key.ID)
	writeJSON(w, http.StatusCreated, CreatedKey{Secret: c.Secret.Reveal(), Key: a.key(c.Key)})
}

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	err := signedIn(ctx)
	if err == nil {
		err = mfaPending(ctx, a.Client, "", id)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	k, err := a.Client.APIKey.Get(ctx, id)
	if err != nil {
		a.fail(w, r, store.Classify(err))
		return
	}
	writeJSON(w, http.StatusOK, a.key(k))
}

func (a *API) patch(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	err := signedIn(ctx)
	var p patchParams
	if err == nil {
		p, err = decodePatch(r)
	}
	if err == nil {
		err = mfaPending(ctx, a.Client, "", id)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var k *ent.APIKey
	err = a.inTx(ctx, func(ctx context.Context, tx *ent.Client) error {
		// The same calls as updateAPIKey, then revokeAPIKey for
		// {"status":"REVOKED"}: the same rules and the same audit lines.
		if p.update || !p.revoke {
			if k, err = a.Keys.Update(ctx, tx, id, p.UpdateParams); err != nil {
				return err
			}
		}
		if p.revoke {
			k, err = a.Keys.Revoke(ctx, tx, id)
		}
		return err
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a.key(k))
}

func (a *API) delete(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	err := signedIn(ctx)
	if err == nil {
		err = mfaPending(ctx, a.Client, "", id)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	err = a.inTx(ctx, func(ctx context.Context, tx *ent.Client) error {
		id, err = a.Keys.Delete(ctx, tx, id)
		return err
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, Deleted{ID: id, Deleted: true})
}

func workspaceParam(r *http.Request) (string, error) {
	ws := r.URL.Query().Get("workspace_id")
	if ws == "" {
		return "", userinput.Errorf("workspace_id", "the query parameter workspace_id is required: the id (ws_…) of the workspace whose keys these are")
	}
	return ws, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// errMFARequired is the error GraphQL answers MFA_REQUIRED for.
var errMFARequired = accounts.ErrMFARequired
