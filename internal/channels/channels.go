// Package channels manages the upstream provider accounts gateways route
// requests to (issue 17): site-wide channels, which only site admins see
// and change, and a workspace's own, which its members see and its owners
// and admins change. ent's privacy rule (tenancy.ChannelPolicy) enforces
// the same below; this package says why in a clear error first.
//
// A channel's API key is sealed with OAIS_SECRETS_KEY and bound to the
// channel's id (AAD "channel:<id>"), so a ciphertext copied onto another
// row does not open. Gateways unseal it in their key snapshot.
package channels

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/oais/oais/ent"
	entchannel "github.com/oais/oais/ent/channel"
	"github.com/oais/oais/ent/predicate"
	"github.com/oais/oais/internal/audit"
	"github.com/oais/oais/internal/egress"
	"github.com/oais/oais/internal/ids"
	"github.com/oais/oais/internal/secretbox"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/userinput"
	"github.com/oais/oais/internal/viewer"
)

// Bounds of a channel's settings. MaxName is the ent schema's MaxLen of
// name and of usage_events.channel: raise them together.
const (
	MaxName      = 100
	MaxBaseURL   = 2000
	MaxAPIKey    = 1000
	MaxModels    = 200
	MaxModelName = 200
	MaxWeight    = 1_000_000
	MaxPriority  = 1_000_000
	// MaxPerOwner bounds the channels of one workspace (and the
	// site-wide ones): every gateway loads them all, and each name is a
	// metrics label.
	MaxPerOwner = 100
)

// Audit actions of channels. Dashboards filter on these strings: add, never rename.
const (
	Created = "channel.created"
	Updated = "channel.updated"
	Deleted = "channel.deleted"
)

// Errors of this package, mapped by the GraphQL presenter.
var (
	ErrNotFound  = store.ErrNotFound
	ErrForbidden = errors.New("channels: your role does not allow this")
)

// InputError is bad input from the user, with the field it concerns.
type InputError = userinput.Error

// Mapping renames a client model for one channel.
type Mapping struct{ From, To string }

// Params are a channel's settings as a user gives them. Nil pointers keep
// the stored value on Update and take the default on Create.
type Params struct {
	// WorkspaceID owns the channel; nil or "" makes it site-wide. It cannot
	// change on Update.
	WorkspaceID *string
	Name        string
	Type        string // OPENAI, AZURE or ANTHROPIC
	BaseURL     string
	// APIKey replaces the stored key when non-nil; "" removes it.
	APIKey     *string
	APIVersion *string
	Models     []string
	ModelMap   []Mapping
	Priority   *int
	Weight     *int
	Enabled    *bool
	RPM, TPM   *int64
}

// Service changes channels. Box seals API keys; Egress is the network
// rule a base URL obeys (the same as a workspace upstream's; nil allows
// public addresses only).
type Service struct {
	Box    *secretbox.Box
	Egress *egress.Policy
}

var (
	nameRe    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._:@/+-]*$`)
	versionRe = regexp.MustCompile(`^[A-Za-z0-9._-]*$`)
)

// checked is Params validated: the URL parsed and the key sealed.
type checked struct {
	ws       string
	base     *url.URL
	sealed   []byte
	mask     string
	keyGiven bool
	modelMap map[string]string
}

// check validates p for the channel of id (a new one on Create); the URL's
// name is resolved here, before any transaction.
func (s *Service) check(ctx context.Context, id string, p *Params) (*checked, error) {
	p.Name = strings.TrimSpace(p.Name)
	if p.Name == "" || len(p.Name) > MaxName || !nameRe.MatchString(p.Name) {
		return nil, &InputError{Field: "name", Msg: fmt.Sprintf("a name of 1 to %d characters: letters, digits, spaces and . _ : @ / + - (it is sent in the x-oais-channel header), starting with a letter or digit", MaxName)}
	}
	switch entchannel.Type(p.Type) {
	case entchannel.TypeOPENAI, entchannel.TypeAZURE, entchannel.TypeANTHROPIC:
	default:
		return nil, &InputError{Field: "type", Msg: "must be OPENAI, AZURE or ANTHROPIC"}
	}
	raw := strings.TrimSpace(p.BaseURL)
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || len(raw) > MaxBaseURL {
		return nil, &InputError{Field: "baseURL", Msg: "must be an http(s) URL such as https://api.openai.com/v1, without credentials, query or fragment"}
	}
	if err := s.Egress.CheckURL(ctx, u); err != nil {
		var fe *egress.ForbiddenError
		if errors.As(err, &fe) {
			return nil, &InputError{Field: "baseURL", Msg: fmt.Sprintf("%s is %s; a channel must point at a public address "+
				"(an operator can allow a network with OAIS_UPSTREAM_ALLOWED_NETWORKS)", u.Hostname(), fe.Rule)}
		}
		return nil, &InputError{Field: "baseURL", Msg: "must be an http(s) URL whose host resolves, such as https://api.openai.com/v1"}
	}
	if p.APIVersion != nil && (len(*p.APIVersion) > 100 || !versionRe.MatchString(*p.APIVersion)) {
		return nil, &InputError{Field: "apiVersion", Msg: "at most 100 letters, digits, dots, dashes and underscores, e.g. 2024-10-21"}
	}
	if len(p.Models) > MaxModels {
		return nil, &InputError{Field: "models", Msg: fmt.Sprintf("at most %d models", MaxModels)}
	}
	for _, m := range p.Models {
		if m == "" || len(m) > MaxModelName {
			return nil, &InputError{Field: "models", Msg: fmt.Sprintf("each model name has 1 to %d characters", MaxModelName)}
		}
	}
	if len(p.ModelMap) > MaxModels {
		return nil, &InputError{Field: "modelMap", Msg: fmt.Sprintf("at most %d mappings", MaxModels)}
	}
	c := &checked{base: u}
	for _, m := range p.ModelMap {
		if m.From == "" || m.To == "" || len(m.From) > MaxModelName || len(m.To) > MaxModelName {
			return nil, &InputError{Field: "modelMap", Msg: fmt.Sprintf("each mapping has a from and a to of 1 to %d characters", MaxModelName)}
		}
		if c.modelMap == nil {
			c.modelMap = map[string]string{}
		}
		if _, dup := c.modelMap[m.From]; dup {
			return nil, &InputError{Field: "modelMap", Msg: fmt.Sprintf("%q is mapped twice", m.From)}
		}
		c.modelMap[m.From] = m.To
	}
	if p.Weight != nil && (*p.Weight < 0 || *p.Weight > MaxWeight) {
		return nil, &InputError{Field: "weight", Msg: fmt.Sprintf("must be from 0 to %d", MaxWeight)}
	}
	if p.Priority != nil && (*p.Priority < -MaxPriority || *p.Priority > MaxPriority) {
		return nil, &InputError{Field: "priority", Msg: fmt.Sprintf("must be from %d to %d", -MaxPriority, MaxPriority)}
	}
	if p.RPM != nil && *p.RPM < 0 {
		return nil, &InputError{Field: "rpm", Msg: "must be 0 (no cap) or a positive number"}
	}
	if p.TPM != nil && *p.TPM < 0 {
		return nil, &InputError{Field: "tpm", Msg: "must be 0 (no cap) or a positive number"}
	}
	if p.APIKey != nil {
		c.keyGiven = true
		if k := *p.APIKey; k != "" {
			if len(k) > MaxAPIKey {
				return nil, &InputError{Field: "apiKey", Msg: fmt.Sprintf("at most %d characters", MaxAPIKey)}
			}
			if !s.Box.Enabled() {
				return nil, &InputError{Field: "apiKey", Msg: "the operator must set OAIS_SECRETS_KEY before channel keys can be stored"}
			}
			if c.sealed, err = s.Box.Seal([]byte(k), AAD(id)); err != nil {
				return nil, err
			}
			c.mask = Mask(k)
		}
	}
	return c, nil
}

// AAD is the additional data a channel's sealed key is bound to.
func AAD(channelID string) []byte { return []byte("channel:" + channelID) }

// Mask shows a secret's first three and last four characters (sk-…abcd),
// or only that one is set when it is too short to show any of it.
func Mask(k string) string {
	if len(k) < 12 {
		return "…" + strings.Repeat("•", 4)
	}
	return k[:3] + "…" + k[len(k)-4:]
}

// mayManage says whether the viewer may change the channels of ws ("" for
// site-wide): not found when it may not even see them.
func mayManage(ctx context.Context, ws string) error {
	v := viewer.FromContext(ctx)
	if v == nil {
		return ErrForbidden
	}
	if v.System {
		return nil
	}
	if ws == "" {
		if v.SiteAdmin {
			return nil
		}
		return ErrForbidden
	}
	r, ok := v.RoleIn(ws)
	if !ok {
		return ErrNotFound
	}
	if !r.CanManage() {
		return ErrForbidden
	}
	return nil
}

// Create adds a channel. Called outside a transaction it opens its own
// for the writes, after the URL's name is resolved (see workspaces.SetUpstream).
func (s *Service) Create(ctx context.Context, c *ent.Client, p Params) (*ent.Channel, error) {
	ws := ""
	if p.WorkspaceID != nil {
		ws = *p.WorkspaceID
	}
	if err := mayManage(ctx, ws); err != nil {
		return nil, err
	}
	id := ids.New(ids.Channel)
	ck, err := s.check(ctx, id, &p)
	if err != nil {
		return nil, err
	}
	ck.ws = ws
	var ch *ent.Channel
	err = store.InTx(ctx, c, func(c *ent.Client) error {
		if err := nameFree(ctx, c, ws, p.Name, ""); err != nil {
			return err
		}
		if err := room(ctx, c, ws); err != nil {
			return err
		}
		q := c.Channel.Create().SetID(id).SetName(p.Name).SetType(entchannel.Type(p.Type)).SetBaseURL(ck.base.String()).
			SetModels(p.Models).SetModelMap(ck.modelMap).
			SetNillablePriority(p.Priority).SetNillableWeight(p.Weight).SetNillableEnabled(p.Enabled).
			SetNillableRpm(p.RPM).SetNillableTpm(p.TPM)
		if ws != "" {
			q.SetWorkspaceID(ws)
		}
		if p.APIVersion != nil {
			q.SetAPIVersion(*p.APIVersion)
		}
		if ck.sealed != nil {
			q.SetAPIKeyCiphertext(ck.sealed).SetAPIKeyMask(ck.mask)
		}
		var err error
		if ch, err = q.Save(ctx); err != nil {
			return store.Classify(err)
		}
		return record(ctx, c, Created, ch, ck)
	})
	return ch, err
}

// Update changes a channel; its owner stays.
func (s *Service) Update(ctx context.Context, c *ent.Client, id string, p Params) (*ent.Channel, error) {
	cur, err := c.Channel.Get(ctx, id)
	if err != nil {
		return nil, store.Classify(err)
	}
	ws := owner(cur)
	if err := mayManage(ctx, ws); err != nil {
		return nil, err
	}
	if p.WorkspaceID != nil && *p.WorkspaceID != ws {
		return nil, &InputError{Field: "workspaceID", Msg: "a channel cannot move to another owner; create a new one and delete this one"}
	}
	ck, err := s.check(ctx, id, &p)
	if err != nil {
		return nil, err
	}
	ck.ws = ws
	var ch *ent.Channel
	err = store.InTx(ctx, c, func(c *ent.Client) error {
		if err := nameFree(ctx, c, ws, p.Name, id); err != nil {
			return err
		}
		q := c.Channel.UpdateOneID(id).SetName(p.Name).SetType(entchannel.Type(p.Type)).SetBaseURL(ck.base.String()).
			SetModels(p.Models).SetModelMap(ck.modelMap).
			SetNillablePriority(p.Priority).SetNillableWeight(p.Weight).SetNillableEnabled(p.Enabled).
			SetNillableRpm(p.RPM).SetNillableTpm(p.TPM)
		if p.APIVersion != nil {
			q.SetAPIVersion(*p.APIVersion)
		}
		switch {
		case ck.sealed != nil:
			q.SetAPIKeyCiphertext(ck.sealed).SetAPIKeyMask(ck.mask)
		case ck.keyGiven:
			q.ClearAPIKeyCiphertext().ClearAPIKeyMask()
		}
		var err error
		if ch, err = q.Save(ctx); err != nil {
			return store.Classify(err)
		}
		return record(ctx, c, Updated, ch, ck)
	})
	return ch, err
}

// Delete removes a channel; gateways drop it at their next reload.
func (s *Service) Delete(ctx context.Context, c *ent.Client, id string) error {
	cur, err := c.Channel.Get(ctx, id)
	if err != nil {
		return store.Classify(err)
	}
	if err := mayManage(ctx, owner(cur)); err != nil {
		return err
	}
	return store.InTx(ctx, c, func(c *ent.Client) error {
		if err := c.Channel.DeleteOneID(id).Exec(ctx); err != nil {
			return store.Classify(err)
		}
		return audit.Record(ctx, c, audit.Event{WorkspaceID: owner(cur), Action: Deleted, TargetType: "channel", TargetID: id,
			Details: map[string]string{"name": cur.Name}})
	})
}

// List returns the channels of ws (site-wide ones for ""), as the viewer
// may see them, by priority (highest first) then name.
func List(ctx context.Context, c *ent.Client, ws *string) ([]*ent.Channel, error) {
	q := c.Channel.Query()
	if ws != nil {
		q.Where(ownedBy(*ws))
	}
	chs, err := q.Order(ent.Desc(entchannel.FieldPriority), ent.Asc(entchannel.FieldName), ent.Asc(entchannel.FieldID)).All(ctx)
	return chs, store.Classify(err)
}

// room refuses a channel past MaxPerOwner in owner ws ("" for the site).
// Concurrent creations may pass it together, by their number at most.
func room(ctx context.Context, c *ent.Client, ws string) error {
	n, err := c.Channel.Query().Where(ownedBy(ws)).Count(ctx)
	if err != nil {
		return store.Classify(err)
	}
	if n >= MaxPerOwner {
		return &InputError{Field: "workspaceID", Msg: fmt.Sprintf("this owner has %d channels, the most there can be; delete one first (a channel serves any number of models)", MaxPerOwner)}
	}
	return nil
}

// ownedBy selects the channels of owner ws ("" for the site's).
func ownedBy(ws string) predicate.Channel {
	if ws == "" {
		return entchannel.WorkspaceIDIsNil()
	}
	return entchannel.WorkspaceID(ws)
}

func owner(ch *ent.Channel) string {
	if ch.WorkspaceID == nil {
		return ""
	}
	return *ch.WorkspaceID
}

// nameFree checks that no other channel of the owner has the name (the
// unique indexes catch a race; this says it clearly).
func nameFree(ctx context.Context, c *ent.Client, ws, name, self string) error {
	taken, err := c.Channel.Query().Where(entchannel.Name(name), entchannel.IDNEQ(self), ownedBy(ws)).Exist(ctx)
	if err != nil {
		return store.Classify(err)
	}
	if taken {
		return &InputError{Field: "name", Msg: fmt.Sprintf("a channel named %q exists already here; choose another name", name)}
	}
	return nil
}

// record writes the audit line of a create or update: what changed, never
// the key (only whether it was set, kept or removed).
func record(ctx context.Context, c *ent.Client, action string, ch *ent.Channel, ck *checked) error {
	key := "kept"
	switch {
	case ck.sealed != nil:
		key = "set"
	case ck.keyGiven:
		key = "removed"
	}
	d := map[string]string{
		"name": ch.Name, "type": string(ch.Type), "host": ck.base.Host, "api_key": key,
		"models":   strings.Join(ch.Models, ","),
		"priority": fmt.Sprint(ch.Priority), "weight": fmt.Sprint(ch.Weight), "enabled": fmt.Sprint(ch.Enabled),
		"rpm": fmt.Sprint(ch.Rpm), "tpm": fmt.Sprint(ch.Tpm),
	}
	if len(ch.ModelMap) > 0 {
		var m []string
		for from, to := range ch.ModelMap {
			m = append(m, from+"→"+to)
		}
		slices.Sort(m)
		d["model_map"] = strings.Join(m, ",")
	}
	return audit.Record(ctx, c, audit.Event{WorkspaceID: ck.ws, Action: action, TargetType: "channel", TargetID: ch.ID, Details: d})
}
