package workspaces

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/oais/oais/ent"
	entupstream "github.com/oais/oais/ent/upstream"
	"github.com/oais/oais/internal/audit"
	"github.com/oais/oais/internal/egress"
	"github.com/oais/oais/internal/secretbox"
	"github.com/oais/oais/internal/store"
)

// UpstreamParams are a workspace's own upstream settings.
type UpstreamParams struct {
	BaseURL string
	// APIKey replaces the stored key when non-nil; "" removes it.
	APIKey *string
	Models []string
}

// SetUpstream points a workspace at its own OpenAI-compatible upstream. The
// API key is sealed with box (OAIS_SECRETS_KEY) and bound to the workspace.
// The URL must lead where dest allows (public addresses, and the operator's
// OAIS_UPSTREAM_ALLOWED_NETWORKS; a nil dest allows public ones only): the
// gateway would otherwise send the workspace's requests, and relay the
// answers, to the operator's own network. The gateway checks again at
// every connection.
//
// The URL's name is resolved before anything is written. Called outside a
// transaction, SetUpstream opens its own for the writes, after the look-up:
// on SQLite a transaction holds the database's write lock, which a slow
// (or deliberately stalling) DNS server must not get to hold.
func SetUpstream(ctx context.Context, c *ent.Client, box *secretbox.Box, dest *egress.Policy, wsID string, p UpstreamParams) (*ent.Upstream, error) {
	if err := manager(ctx, wsID); err != nil {
		return nil, err
	}
	u, err := url.Parse(strings.TrimSpace(p.BaseURL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || len(p.BaseURL) > 2000 {
		return nil, &InputError{Field: "baseURL", Msg: "must be an http(s) URL such as https://api.openai.com/v1, without credentials or query"}
	}
	if err := dest.CheckURL(ctx, u); err != nil {
		var fe *egress.ForbiddenError
		if errors.As(err, &fe) {
			return nil, &InputError{Field: "baseURL", Msg: fmt.Sprintf("%s is %s; a workspace's upstream must be a public address "+
				"(an operator can allow a network with OAIS_UPSTREAM_ALLOWED_NETWORKS)", u.Hostname(), fe.Rule)}
		}
		return nil, &InputError{Field: "baseURL", Msg: "must be an http(s) URL such as https://api.openai.com/v1"}
	}
	if len(p.Models) > 200 {
		return nil, &InputError{Field: "models", Msg: "at most 200 models"}
	}
	var sealed []byte
	if p.APIKey != nil && *p.APIKey != "" {
		if len(*p.APIKey) > 1000 {
			return nil, &InputError{Field: "apiKey", Msg: "at most 1000 characters"}
		}
		if !box.Enabled() {
			return nil, &InputError{Field: "apiKey", Msg: "the operator must set OAIS_SECRETS_KEY before upstream keys can be stored"}
		}
		if sealed, err = box.Seal([]byte(*p.APIKey), []byte(wsID)); err != nil {
			return nil, err
		}
	}
	var up *ent.Upstream
	err = inTx(ctx, c, func(c *ent.Client) error {
		var err error
		up, err = writeUpstream(ctx, c, wsID, u, sealed, p)
		return err
	})
	return up, err
}

// inTx runs fn in ctx's transaction if there is one, else in a new one.
func inTx(ctx context.Context, c *ent.Client, fn func(*ent.Client) error) error {
	if ent.TxFromContext(ctx) != nil {
		return fn(c)
	}
	tx, err := c.Tx(ctx)
	if err != nil {
		return store.Classify(err)
	}
	if err := fn(tx.Client()); err != nil {
		_ = tx.Rollback()
		return err
	}
	return store.Classify(tx.Commit())
}

// writeUpstream stores the checked upstream and its audit line.
func writeUpstream(ctx context.Context, c *ent.Client, wsID string, u *url.URL, sealed []byte, p UpstreamParams) (*ent.Upstream, error) {
	existing, err := c.Upstream.Query().Where(entupstream.WorkspaceID(wsID)).Only(ctx)
	var up *ent.Upstream
	switch {
	case ent.IsNotFound(err):
		q := c.Upstream.Create().SetWorkspaceID(wsID).SetBaseURL(u.String()).SetModels(p.Models)
		if sealed != nil {
			q.SetAPIKeyCiphertext(sealed)
		}
		up, err = q.Save(ctx)
	case err != nil:
		return nil, store.Classify(err)
	default:
		q := c.Upstream.UpdateOne(existing).SetBaseURL(u.String()).SetModels(p.Models)
		if p.APIKey != nil {
			if sealed != nil {
				q.SetAPIKeyCiphertext(sealed)
			} else {
				q.ClearAPIKeyCiphertext()
			}
		}
		up, err = q.Save(ctx)
	}
	if err != nil {
		return nil, store.Classify(err)
	}
	// The audit line names the host, never the key.
	return up, audit.Record(ctx, c, audit.Event{WorkspaceID: wsID, Action: "workspace.upstream_set", TargetType: "upstream", TargetID: up.ID,
		Details: map[string]string{"host": u.Host, "models": strings.Join(p.Models, ",")}})
}

// ClearUpstream sends the workspace back to the gateway's global upstream.
func ClearUpstream(ctx context.Context, c *ent.Client, wsID string) error {
	if err := manager(ctx, wsID); err != nil {
		return err
	}
	n, err := c.Upstream.Delete().Where(entupstream.WorkspaceID(wsID)).Exec(ctx)
	if err != nil {
		return store.Classify(err)
	}
	if n == 0 {
		return nil
	}
	// Touch the workspace so gateways, which follow updated_at, drop the
	// deleted upstream at once.
	if err := c.Workspace.UpdateOneID(wsID).Exec(ctx); err != nil {
		return store.Classify(err)
	}
	return audit.Record(ctx, c, audit.Event{WorkspaceID: wsID, Action: "workspace.upstream_cleared", TargetType: "workspace", TargetID: wsID})
}
