// Package groups keeps the site-wide groups (seed 003: "different pricing
// ratios or rate limits to sets of tokens"): a price multiplier in basis
// points and default RPM/TPM for keys that have none of their own. Site
// admins define them and set a workspace's; a key's editor may pick one for
// the key as long as the key's effective multiplier does not go down
// (Check), so a group below list price is an operator's discount, never a
// member's own. A key's group wins over its workspace's; the gateways apply
// it (gateway/keysnapshot, docs/billing.md).
package groups

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/apikey"
	entgroup "github.com/oais/oais/ent/group"
	"github.com/oais/oais/ent/workspace"
	"github.com/oais/oais/internal/audit"
	"github.com/oais/oais/internal/pricing"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/userinput"
	"github.com/oais/oais/internal/viewer"
)

// MaxNameLen bounds a group's name (the column's MaxLen in ent/schema/group.go).
const MaxNameLen = 64

// Audit actions of groups. A group has no workspace, so its lines are the
// operators'; a workspace's group change is the workspace's.
const (
	AuditCreated          = "group.created"
	AuditUpdated          = "group.updated"
	AuditDeleted          = "group.deleted"
	AuditWorkspaceChanged = "workspace.group_changed"
)

// ErrForbidden is returned when a viewer who is not a site admin defines a
// group, sets a workspace's, or picks a group that would make a key cheaper.
var ErrForbidden = errors.New("groups: only site admins may do this")

// Params are a group's settings; nil fields of an update stay as they are.
type Params struct {
	Name               *string
	PriceMultiplierBps *int64
	RPM, TPM           *int64 // 0: none
}

func bad(field, format string, a ...any) error { return userinput.Errorf(field, format, a...) }

func siteAdmin(ctx context.Context) error {
	if v := viewer.FromContext(ctx); v == nil || (!v.SiteAdmin && !v.System) {
		return ErrForbidden
	}
	return nil
}

// clean validates p, all of it on create.
func clean(p *Params, create bool) (map[string]string, error) {
	details := map[string]string{}
	if p.Name != nil || create {
		if p.Name == nil {
			return nil, bad("name", "a name is required, e.g. enterprise")
		}
		n := strings.TrimSpace(*p.Name)
		switch {
		case n == "":
			return nil, bad("name", "a name is required, e.g. enterprise")
		case utf8.RuneCountInString(n) > MaxNameLen:
			return nil, bad("name", "at most %d characters", MaxNameLen)
		}
		p.Name = &n
		details["name"] = n
	}
	if p.PriceMultiplierBps != nil || create {
		if p.PriceMultiplierBps == nil {
			return nil, bad("priceMultiplierBps", "required: 10000 is list price, 15000 is 1.5×")
		}
		if b := *p.PriceMultiplierBps; b < 0 || b > pricing.MaxMultiplierBps {
			return nil, bad("priceMultiplierBps", "must be 0 to %d basis points (10000 is list price, 15000 is 1.5×)", pricing.MaxMultiplierBps)
		}
		details["price_multiplier_bps"] = fmt.Sprint(*p.PriceMultiplierBps)
	}
	for _, l := range []struct {
		v    *int64
		name string
	}{{p.RPM, "rpm"}, {p.TPM, "tpm"}} {
		if l.v == nil {
			continue
		}
		if *l.v < 0 {
			return nil, bad(l.name, "must be 0 (no default) or more")
		}
		details[l.name] = fmt.Sprint(*l.v)
	}
	return details, nil
}

// Create defines a group (site admins).
func Create(ctx context.Context, c *ent.Client, p Params) (*ent.Group, error) {
	if err := siteAdmin(ctx); err != nil {
		return nil, err
	}
	details, err := clean(&p, true)
	if err != nil {
		return nil, err
	}
	q := c.Group.Create().SetName(*p.Name).SetPriceMultiplierBps(*p.PriceMultiplierBps)
	if p.RPM != nil {
		q.SetRpm(*p.RPM)
	}
	if p.TPM != nil {
		q.SetTpm(*p.TPM)
	}
	g, err := q.Save(ctx)
	if err != nil {
		if ent.IsConstraintError(err) {
			return nil, bad("name", "a group named %q exists already", *p.Name)
		}
		return nil, store.Classify(err)
	}
	return g, audit.Record(ctx, c, audit.Event{Action: AuditCreated, TargetType: "group", TargetID: g.ID, Details: details})
}

// Update edits group id (site admins). Every gateway applies it at its next
// poll, like a key change.
func Update(ctx context.Context, c *ent.Client, id string, p Params) (*ent.Group, error) {
	if err := siteAdmin(ctx); err != nil {
		return nil, err
	}
	details, err := clean(&p, false)
	if err != nil {
		return nil, err
	}
	u := c.Group.UpdateOneID(id)
	if p.Name != nil {
		u.SetName(*p.Name)
	}
	if p.PriceMultiplierBps != nil {
		u.SetPriceMultiplierBps(*p.PriceMultiplierBps)
	}
	if p.RPM != nil {
		u.SetRpm(*p.RPM)
	}
	if p.TPM != nil {
		u.SetTpm(*p.TPM)
	}
	g, err := u.Save(ctx)
	if err != nil {
		if ent.IsConstraintError(err) && p.Name != nil {
			return nil, bad("name", "a group named %q exists already", *p.Name)
		}
		return nil, store.Classify(err)
	}
	return g, audit.Record(ctx, c, audit.Event{Action: AuditUpdated, TargetType: "group", TargetID: g.ID, Details: details})
}

// Delete removes group id (site admins). Its keys and workspaces are moved
// to no group first, through ent so that their updated_at moves and every
// gateway re-reads them (a deleted row leaves nothing to poll).
func Delete(ctx context.Context, c *ent.Client, id string) error {
	if err := siteAdmin(ctx); err != nil {
		return err
	}
	g, err := c.Group.Get(ctx, id)
	if err != nil {
		return store.Classify(err)
	}
	sys := viewer.SystemContext(ctx)
	// Deleted keys are hidden by APIKey's interceptor; the foreign key's
	// ON DELETE SET NULL clears theirs.
	if _, err := c.APIKey.Update().Where(apikey.GroupID(id)).ClearGroupID().Save(sys); err != nil {
		return store.Classify(err)
	}
	if _, err := c.Workspace.Update().Where(workspace.GroupID(id)).ClearGroupID().Save(sys); err != nil {
		return store.Classify(err)
	}
	if err := c.Group.DeleteOneID(id).Exec(ctx); err != nil {
		return store.Classify(err)
	}
	return audit.Record(ctx, c, audit.Event{Action: AuditDeleted, TargetType: "group", TargetID: id, Details: map[string]string{"name": g.Name}})
}

// SetWorkspace sets workspace wsID's group, or clears it when groupID is
// nil or empty (site admins: a group is a price, which is the operator's).
func SetWorkspace(ctx context.Context, c *ent.Client, wsID string, groupID *string) (*ent.Workspace, error) {
	if err := siteAdmin(ctx); err != nil {
		return nil, err
	}
	// A site admin may not be a member: read and write as the system, once
	// the viewer is known to be an operator.
	sys := viewer.SystemContext(ctx)
	ws, err := c.Workspace.Get(sys, wsID)
	if err != nil {
		return nil, store.Classify(err)
	}
	u := c.Workspace.UpdateOne(ws)
	details := map[string]string{"group_id": "none", "group_id_was": "none"}
	if ws.GroupID != nil {
		details["group_id_was"] = *ws.GroupID
	}
	if groupID != nil && *groupID != "" {
		g, err := c.Group.Get(ctx, *groupID)
		if err != nil {
			if ent.IsNotFound(err) {
				return nil, bad("groupID", "no such group; list them with Query.groups")
			}
			return nil, store.Classify(err)
		}
		u.SetGroupID(g.ID)
		details["group_id"], details["group"] = g.ID, g.Name
	} else {
		u.ClearGroupID()
	}
	ws, err = u.Save(sys)
	if err != nil {
		return nil, store.Classify(err)
	}
	return ws, audit.Record(ctx, c, audit.Event{WorkspaceID: ws.ID, Action: AuditWorkspaceChanged, TargetType: "workspace", TargetID: ws.ID, Details: details})
}

// List returns every group by name.
func List(ctx context.Context, c *ent.Client) ([]*ent.Group, error) {
	gs, err := c.Group.Query().Order(ent.Asc(entgroup.FieldName)).All(ctx)
	return gs, store.Classify(err)
}

// multiplier returns the multiplier of group id, or of the workspace's
// group when id is empty, or list price.
func multiplier(ctx context.Context, c *ent.Client, id string, ws *ent.Workspace) (int64, error) {
	if id == "" && ws.GroupID != nil {
		id = *ws.GroupID
	}
	if id == "" {
		return pricing.ListBps, nil
	}
	g, err := c.Group.Get(ctx, id)
	if err != nil {
		if ent.IsNotFound(err) {
			return 0, bad("groupID", "no such group; list them with Query.groups")
		}
		return 0, store.Classify(err)
	}
	return g.PriceMultiplierBps, nil
}

// Check validates a key's change of group from the group id was to the
// group id to ("" for none: the workspace's applies) in workspace ws: the
// group must exist, and a viewer who is not a site admin may not lower the
// key's effective multiplier (pick a discount, or leave a surcharge).
func Check(ctx context.Context, c *ent.Client, ws *ent.Workspace, was, to string) error {
	next, err := multiplier(ctx, c, to, ws)
	if err != nil || siteAdmin(ctx) == nil {
		return err
	}
	cur, err := multiplier(ctx, c, was, ws)
	if err != nil {
		if _, ok := userinput.As(err); ok {
			cur = pricing.ListBps // the key's old group is gone
		} else {
			return err
		}
	}
	if next < cur {
		return ErrForbidden
	}
	return nil
}
