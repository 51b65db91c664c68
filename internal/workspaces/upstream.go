package workspaces

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/oais/oais/ent"
	entchannel "github.com/oais/oais/ent/channel"
	entupstream "github.com/oais/oais/ent/upstream"
	"github.com/oais/oais/internal/audit"
	"github.com/oais/oais/internal/channels"
	"github.com/oais/oais/internal/egress"
	"github.com/oais/oais/internal/ids"
	"github.com/oais/oais/internal/secretbox"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/viewer"
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
	err = store.InTx(ctx, c, func(c *ent.Client) error {
		var err error
		if up, err = writeUpstream(ctx, c, wsID, u, sealed, p); err != nil {
			return err
		}
		return syncDefaultChannel(ctx, c, box, up, p.APIKey)
	})
	return up, err
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
	if _, err := c.Channel.Delete().Where(entchannel.WorkspaceID(wsID), entchannel.Name(DefaultChannel)).Exec(ctx); err != nil {
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

// DefaultChannel is the name of the channel setWorkspaceUpstream manages:
// the workspace's upstream as a channel (issue 17), type OPENAI, serving
// the upstream's models. clearWorkspaceUpstream deletes it.
const DefaultChannel = "default"

// syncDefaultChannel makes the workspace's default channel say what its
// upstream up says. key is the plaintext given to SetUpstream (nil: keep
// the channel's key; a new channel then takes the upstream's stored one).
// The key is sealed for the channel's own row (channels.AAD).
func syncDefaultChannel(ctx context.Context, c *ent.Client, box *secretbox.Box, up *ent.Upstream, key *string) error {
	cur, err := c.Channel.Query().Where(entchannel.WorkspaceID(up.WorkspaceID), entchannel.Name(DefaultChannel)).Only(ctx)
	if err != nil && !ent.IsNotFound(err) {
		return store.Classify(err)
	}
	id := ids.New(ids.Channel)
	if cur != nil {
		id = cur.ID
	}
	var plain []byte
	switch {
	case key != nil:
		plain = []byte(*key)
	case cur == nil && len(up.APIKeyCiphertext) > 0:
		if plain, err = box.Open(up.APIKeyCiphertext, []byte(up.WorkspaceID)); err != nil {
			return fmt.Errorf("%w: %w", errUpstreamKey, err)
		}
	}
	var sealed []byte
	if len(plain) > 0 {
		if sealed, err = box.Seal(plain, channels.AAD(id)); err != nil {
			return err
		}
	}
	if cur == nil {
		q := c.Channel.Create().SetID(id).SetWorkspaceID(up.WorkspaceID).SetName(DefaultChannel).SetType(entchannel.TypeOPENAI).
			SetBaseURL(up.BaseURL).SetModels(up.Models)
		if sealed != nil {
			q.SetAPIKeyCiphertext(sealed).SetAPIKeyMask(channels.Mask(string(plain)))
		}
		return store.Classify(q.Exec(ctx))
	}
	q := c.Channel.UpdateOne(cur).SetBaseURL(up.BaseURL).SetModels(up.Models)
	switch {
	case sealed != nil:
		q.SetAPIKeyCiphertext(sealed).SetAPIKeyMask(channels.Mask(string(plain)))
	case key != nil:
		q.ClearAPIKeyCiphertext().ClearAPIKeyMask()
	}
	return store.Classify(q.Exec(ctx))
}

// MigrateUpstreams gives every workspace upstream stored by a version
// before channels its default channel, its key unsealed and sealed again
// for the channel; the control plane runs it at start. It is idempotent
// (a workspace with a default channel is skipped), and two control planes
// running it at once only collide on the unique name, which it ignores.
// It returns how many channels it made, and the workspaces whose upstream
// key it could not open (another OAIS_SECRETS_KEY): those get no channel
// (a channel without its key would call the provider unauthenticated) and
// keep being served through WorkspacePolicy.Upstream as before.
func MigrateUpstreams(ctx context.Context, c *ent.Client, box *secretbox.Box) (n int, unopened []string, err error) {
	sys := viewer.SystemContext(ctx)
	ups, err := c.Upstream.Query().All(sys)
	if err != nil {
		return 0, nil, store.Classify(err)
	}
	for _, up := range ups {
		has, err := c.Channel.Query().Where(entchannel.WorkspaceID(up.WorkspaceID), entchannel.Name(DefaultChannel)).Exist(sys)
		if err != nil {
			return n, unopened, store.Classify(err)
		}
		if has {
			continue
		}
		err = syncDefaultChannel(sys, c, box, up, nil)
		switch {
		case errors.Is(err, store.ErrConflict):
			continue // another control plane made it
		case errors.Is(err, errUpstreamKey):
			unopened = append(unopened, up.WorkspaceID)
			continue
		case err != nil:
			return n, unopened, fmt.Errorf("workspace %s: %w", up.WorkspaceID, err)
		}
		n++
	}
	return n, unopened, nil
}

// errUpstreamKey: a stored upstream key does not open with this sealing key.
var errUpstreamKey = errors.New("the workspace upstream's key does not open with OAIS_SECRETS_KEY")
