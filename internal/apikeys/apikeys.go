// Package apikeys manages API keys in the database: creation (the secret
// shown once), edits, revocation, rotation with a grace window and leaked-key
// reports. Resolvers call it inside their transaction; ent privacy rules have
// already limited what the viewer can see and change, and this package adds
// the lifecycle rules of internal/keys and the audit trail.
package apikeys

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/apikey"
	"github.com/oais/oais/ent/privacy"
	"github.com/oais/oais/internal/audit"
	"github.com/oais/oais/internal/config"
	"github.com/oais/oais/internal/gateways"
	"github.com/oais/oais/internal/groups"
	"github.com/oais/oais/internal/keys"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/userinput"
	"github.com/oais/oais/internal/viewer"
)

// Bounds on what a key may carry; the gateway holds every key in memory.
const (
	MaxLabelLen     = 100
	MaxModels       = 100
	MaxModelLen     = 200
	MaxCIDRs        = 100
	MaxLeakSourceLn = 500
)

// ErrKeyLimit means the workspace already has its maximum number of live keys.
var ErrKeyLimit = errors.New("apikeys: the workspace has reached its key limit; revoke an unused key first")

// ErrNotFound means no such key, or not one the viewer may see.
var ErrNotFound = store.ErrNotFound

// InputError is bad input from the user, with the field it concerns.
type InputError = userinput.Error

func bad(field, format string, a ...any) error { return userinput.Errorf(field, format, a...) }

// cleanGatewayName trims a key's gateway name and checks it
// (internal/gateways.ValidateName); empty means every gateway.
func cleanGatewayName(n string) (string, error) {
	n = strings.TrimSpace(n)
	if n == "" {
		return "", nil
	}
	if err := gateways.ValidateName(n); err != nil {
		return "", bad("gatewayName", "%s", err.Error())
	}
	return n, nil
}

// Service holds the clock (tests replace it).
type Service struct {
	Now func() time.Time
}

func (s *Service) now() time.Time {
	if s != nil && s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Settings are a key's editable limits and restrictions.
type Settings struct {
	ExpiresAt     *time.Time
	MaxRequests   int64
	AllowedModels []string
	IPAllowlist   []string
	RPM, TPM      *int64
	CacheEnabled  bool
	// CreditQuotaCents is the most the key may ever spend; nil or 0:
	// unlimited.
	CreditQuotaCents *int64
	// GroupID picks the key's group (internal/groups.Check says who may);
	// nil or empty: the workspace's.
	GroupID *string
	// GatewayName binds the key to the gateway of that OAIS_GATEWAY_NAME;
	// nil or empty: every gateway.
	GatewayName *string
}

// CreateParams describes a new key.
type CreateParams struct {
	WorkspaceID string
	Label       string
	// DurationHours, instead of ExpiresAt, makes the key expire that many
	// hours after it is made (1 to MaxDurationHours).
	DurationHours *int64
	Settings
}

// Created is a new key and its secret, which exists nowhere else: hand it to
// the user once and drop it.
type Created struct {
	Secret keys.Secret
	Key    *ent.APIKey
}

func cleanLabel(l string) (string, error) {
	l = strings.TrimSpace(l)
	switch {
	case l == "":
		return "", bad("label", "a label is required, e.g. prod-payments-worker")
	case utf8.RuneCountInString(l) > MaxLabelLen:
		return "", bad("label", "at most %d characters", MaxLabelLen)
	}
	return l, nil
}

// NormalizeCIDRs parses an allow-list: CIDRs or bare addresses (a single
// host). It returns them in canonical form.
func NormalizeCIDRs(in []string) ([]string, error) {
	if len(in) > MaxCIDRs {
		return nil, bad("ipAllowlist", "at most %d entries", MaxCIDRs)
	}
	out := make([]string, 0, len(in))
	for _, s := range in {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		p, err := config.ParsePrefix(s)
		if err != nil {
			return nil, bad("ipAllowlist", "%q is neither an IP address nor a CIDR such as 10.0.0.0/8", s)
		}
		out = append(out, p.String())
	}
	return out, nil
}

func cleanModels(in []string) ([]string, error) {
	if len(in) > MaxModels {
		return nil, bad("allowedModels", "at most %d models", MaxModels)
	}
	out := make([]string, 0, len(in))
	seen := map[string]bool{}
	for _, m := range in {
		m = strings.TrimSpace(m)
		if m == "" || seen[m] {
			continue
		}
		if len(m) > MaxModelLen {
			return nil, bad("allowedModels", "model names are at most %d characters", MaxModelLen)
		}
		seen[m] = true
		out = append(out, m)
	}
	return out, nil
}

func (s *Service) cleanSettings(st *Settings) error {
	if st.ExpiresAt != nil && !st.ExpiresAt.After(s.now()) {
		return bad("expiresAt", "must be in the future")
	}
	if st.MaxRequests < 0 {
		return bad("maxRequests", "must be 0 (unlimited) or more")
	}
	if st.RPM != nil && *st.RPM < 0 {
		return bad("rpm", "must be 0 (unlimited) or more")
	}
	if st.TPM != nil && *st.TPM < 0 {
		return bad("tpm", "must be 0 (unlimited) or more")
	}
	if st.GatewayName != nil {
		n, err := cleanGatewayName(*st.GatewayName)
		if err != nil {
			return err
		}
		st.GatewayName = &n
	}
	var err error
	if st.CreditQuotaCents, err = cleanCreditQuota(st.CreditQuotaCents); err != nil {
		return err
	}
	if st.AllowedModels, err = cleanModels(st.AllowedModels); err != nil {
		return err
	}
	st.IPAllowlist, err = NormalizeCIDRs(st.IPAllowlist)
	return err
}

// Create makes a key in p.WorkspaceID. The viewer must be allowed to create
// keys there (ent privacy checks it), and the workspace must be active.
func (s *Service) Create(ctx context.Context, c *ent.Client, p CreateParams) (*Created, error) {
	label, err := cleanLabel(p.Label)
	if err != nil {
		return nil, err
	}
	if p.ExpiresAt, err = s.expiry(p.ExpiresAt, p.DurationHours); err != nil {
		return nil, err
	}
	if err := s.cleanSettings(&p.Settings); err != nil {
		return nil, err
	}
	ws, err := c.Workspace.Get(ctx, p.WorkspaceID)
	if err != nil {
		return nil, store.Classify(err)
	}
	if !ws.Active {
		return nil, ErrWorkspaceInactive
	}
	live, err := c.APIKey.Query().Where(apikey.WorkspaceID(ws.ID), apikey.StatusNEQ(apikey.StatusREVOKED)).Count(ctx)
	if err != nil {
		return nil, store.Classify(err)
	}
	if live >= ws.MaxKeys {
		return nil, ErrKeyLimit
	}
	if p.GroupID != nil && *p.GroupID != "" {
		if err := groups.Check(ctx, c, ws, "", *p.GroupID); err != nil {
			return nil, err
		}
	}
	return s.insert(ctx, c, ws.ID, label, p.Settings, "")
}

func (s *Service) insert(ctx context.Context, c *ent.Client, wsID, label string, st Settings, rotatedFrom string) (*Created, error) {
	secret, err := keys.Generate()
	if err != nil {
		return nil, err
	}
	v := viewer.FromContext(ctx)
	q := c.APIKey.Create().
		SetWorkspaceID(wsID).
		SetLabel(label).
		SetSecretHash(secret.Hash().String()).
		SetMaskedKey(secret.String()).
		SetNillableExpiresAt(st.ExpiresAt).
		SetMaxRequests(st.MaxRequests).
		SetAllowedModels(st.AllowedModels).
		SetIPAllowlist(st.IPAllowlist).
		SetNillableRpm(st.RPM).
		SetNillableTpm(st.TPM).
		SetNillableCreditQuotaCents(st.CreditQuotaCents).
		SetCacheEnabled(st.CacheEnabled)
	if st.GroupID != nil && *st.GroupID != "" {
		q.SetGroupID(*st.GroupID)
	}
	if st.GatewayName != nil && *st.GatewayName != "" {
		q.SetGatewayName(*st.GatewayName)
	}
	if v != nil && v.UserID != "" {
		q.SetCreatedByID(v.UserID)
	}
	if rotatedFrom != "" {
		q.SetRotatedFromID(rotatedFrom)
	}
	k, err := q.Save(ctx)
	if err != nil {
		return nil, store.Classify(err)
	}
	if err := audit.Record(ctx, c, audit.Event{WorkspaceID: wsID, Action: audit.KeyCreated, TargetType: "api_key", TargetID: k.ID,
		Details: map[string]string{"label": label, "masked_key": k.MaskedKey}}); err != nil {
		return nil, err
	}
	return &Created{Secret: secret, Key: k}, nil
}

// State returns the lifecycle view of k.
func State(k *ent.APIKey) keys.State {
	st := keys.State{
		Status:       keys.Status(k.Status),
		MaxRequests:  k.MaxRequests,
		RequestCount: k.RequestCount,
	}
	if k.RevokeReason != nil {
		st.RevokeReason = keys.RevokeReason(*k.RevokeReason)
	}
	if k.ExpiresAt != nil {
		st.ExpiresAt = *k.ExpiresAt
	}
	if k.GraceUntil != nil {
		st.GraceUntil = *k.GraceUntil
	}
	return st
}

// Status returns k's effective status at now.
func Status(k *ent.APIKey, now time.Time) keys.Status {
	st := State(k)
	return st.Effective(now)
}

func actor(ctx context.Context, k *ent.APIKey) keys.Actor {
	v := viewer.FromContext(ctx)
	if v != nil && v.System {
		return keys.Actor{Role: viewer.RoleOwner}
	}
	r, _ := v.RoleIn(k.WorkspaceID)
	return keys.Actor{Role: r, IsCreator: v != nil && k.CreatedByID != nil && *k.CreatedByID == v.UserID}
}

// UpdateParams are the changes of an edit; nil fields stay as they are.
type UpdateParams struct {
	Label          *string
	Status         *keys.Status // ACTIVE or DISABLED
	ExpiresAt      *time.Time
	ClearExpiresAt bool
	MaxRequests    *int64
	AllowedModels  []string // nil: unchanged; empty: every model
	IPAllowlist    []string // nil: unchanged; empty: any address
	RPM, TPM       *int64
	CacheEnabled   *bool
	// CreditQuotaCents sets the all-time spend limit; 0 removes it.
	CreditQuotaCents *int64
	// GroupID sets the key's group; empty clears it.
	GroupID *string
	// GatewayName binds the key to one gateway; empty lets every gateway
	// accept it.
	GatewayName *string
}

// Update edits key id.
func (s *Service) Update(ctx context.Context, c *ent.Client, id string, p UpdateParams) (*ent.APIKey, error) {
	k, err := c.APIKey.Get(ctx, id)
	if err != nil {
		return nil, store.Classify(err)
	}
	a := actor(ctx, k)
	if !a.CanManage() {
		return nil, keys.ErrForbidden
	}
	edit := keys.Edit{Expiry: p.ExpiresAt != nil || p.ClearExpiresAt}
	if p.Status != nil {
		edit.Status = *p.Status
	}
	if st := State(k); keys.CheckEdit(&st, edit, s.now()) != nil {
		return nil, keys.ErrExpiredFinal
	}
	u := c.APIKey.UpdateOne(k)
	details := map[string]string{}
	action := audit.KeyUpdated
	if p.Label != nil {
		l, err := cleanLabel(*p.Label)
		if err != nil {
			return nil, err
		}
		u.SetLabel(l)
		details["label"] = l
	}
	if p.ExpiresAt != nil {
		if !p.ExpiresAt.After(s.now()) {
			return nil, bad("expiresAt", "must be in the future")
		}
		u.SetExpiresAt(*p.ExpiresAt)
		details["expires_at"] = p.ExpiresAt.UTC().Format(time.RFC3339)
	} else if p.ClearExpiresAt {
		u.ClearExpiresAt()
		details["expires_at"] = "never"
	}
	if p.MaxRequests != nil {
		if *p.MaxRequests < 0 {
			return nil, bad("maxRequests", "must be 0 (unlimited) or more")
		}
		u.SetMaxRequests(*p.MaxRequests)
		details["max_requests"] = fmt.Sprint(*p.MaxRequests)
	}
	if p.AllowedModels != nil {
		m, err := cleanModels(p.AllowedModels)
		if err != nil {
			return nil, err
		}
		u.SetAllowedModels(m)
		details["allowed_models"] = strings.Join(m, ",")
	}
	if p.IPAllowlist != nil {
		cidrs, err := NormalizeCIDRs(p.IPAllowlist)
		if err != nil {
			return nil, err
		}
		u.SetIPAllowlist(cidrs)
		details["ip_allowlist"] = strings.Join(cidrs, ",")
	}
	for _, l := range []struct {
		v     *int64
		name  string
		set   func(int64) *ent.APIKeyUpdateOne
		clear func() *ent.APIKeyUpdateOne
	}{{p.RPM, "rpm", u.SetRpm, u.ClearRpm}, {p.TPM, "tpm", u.SetTpm, u.ClearTpm}} {
		if l.v == nil {
			continue
		}
		switch {
		case *l.v < 0:
			return nil, bad(l.name, "must be 0 (unlimited) or more")
		case *l.v == 0:
			l.clear()
		default:
			l.set(*l.v)
		}
		details[l.name] = fmt.Sprint(*l.v)
	}
	if p.CacheEnabled != nil {
		u.SetCacheEnabled(*p.CacheEnabled)
		details["cache_enabled"] = fmt.Sprint(*p.CacheEnabled)
	}
	if p.CreditQuotaCents != nil {
		q, err := cleanCreditQuota(p.CreditQuotaCents)
		if err != nil {
			return nil, err
		}
		if q == nil {
			u.ClearCreditQuotaCents()
		} else {
			u.SetCreditQuotaCents(*q)
		}
		details["credit_quota_cents"] = fmt.Sprint(*p.CreditQuotaCents)
		details["credit_quota_cents_was"] = "unlimited"
		if k.CreditQuotaCents != nil {
			details["credit_quota_cents_was"] = fmt.Sprint(*k.CreditQuotaCents)
		}
	}
	if p.GroupID != nil {
		ws, err := c.Workspace.Get(ctx, k.WorkspaceID)
		if err != nil {
			return nil, store.Classify(err)
		}
		was := ""
		if k.GroupID != nil {
			was = *k.GroupID
		}
		if err := groups.Check(ctx, c, ws, was, *p.GroupID); err != nil {
			return nil, err
		}
		if *p.GroupID == "" {
			u.ClearGroupID()
			details["group_id"] = "none"
		} else {
			u.SetGroupID(*p.GroupID)
			details["group_id"] = *p.GroupID
		}
	}
	if p.GatewayName != nil {
		n, err := cleanGatewayName(*p.GatewayName)
		if err != nil {
			return nil, err
		}
		if n == "" {
			u.ClearGatewayName()
			details["gateway_name"] = "any"
		} else {
			u.SetGatewayName(n)
			details["gateway_name"] = n
		}
	}
	if p.Status != nil {
		st := State(k)
		if err := keys.Transition(&st, *p.Status, a); err != nil {
			return nil, err
		}
		switch {
		case *p.Status == keys.StatusDisabled && k.Status != apikey.StatusDISABLED:
			action = audit.KeyDisabled
		case *p.Status == keys.StatusActive && k.Status == apikey.StatusREVOKED:
			action = audit.KeyReactivated
			u.ClearRevokeReason().ClearRevokedAt().ClearRevokedBy().ClearGraceUntil()
		case *p.Status == keys.StatusActive && k.Status == apikey.StatusDISABLED:
			action = audit.KeyEnabled
		}
		u.SetStatus(apikey.Status(*p.Status))
	}
	k, err = u.Save(ctx)
	if err != nil {
		return nil, store.Classify(err)
	}
	return k, audit.Record(ctx, c, audit.Event{WorkspaceID: k.WorkspaceID, Action: action, TargetType: "api_key", TargetID: k.ID, Details: details})
}

// Revoke revokes key id for reason.
func (s *Service) Revoke(ctx context.Context, c *ent.Client, id string) (*ent.APIKey, error) {
	k, err := c.APIKey.Get(ctx, id)
	if err != nil {
		return nil, store.Classify(err)
	}
	st := State(k)
	if err := keys.Transition(&st, keys.StatusRevoked, actor(ctx, k)); err != nil {
		return nil, err
	}
	if k.Status == apikey.StatusREVOKED {
		return k, nil
	}
	k, err = s.revoke(ctx, c, k, keys.ReasonManual)
	if err != nil {
		return nil, err
	}
	return k, audit.Record(ctx, c, audit.Event{WorkspaceID: k.WorkspaceID, Action: audit.KeyRevoked, TargetType: "api_key", TargetID: k.ID})
}

func (s *Service) revoke(ctx context.Context, c *ent.Client, k *ent.APIKey, reason keys.RevokeReason) (*ent.APIKey, error) {
	u := c.APIKey.UpdateOne(k).
		SetStatus(apikey.StatusREVOKED).
		SetRevokeReason(apikey.RevokeReason(reason)).
		SetRevokedAt(s.now())
	if v := viewer.FromContext(ctx); v != nil && v.UserID != "" {
		u.SetRevokedBy(v.UserID)
	}
	k, err := u.Save(ctx)
	return k, store.Classify(err)
}

// RevokeAll revokes every live key of a workspace and returns how many.
// Only owners and admins may (ent privacy filters the update to their workspaces).
func (s *Service) RevokeAll(ctx context.Context, c *ent.Client, workspaceID string) (int, error) {
	r, member := viewer.FromContext(ctx).RoleIn(workspaceID)
	if !member {
		return 0, ErrNotFound
	}
	if !r.CanManage() {
		return 0, keys.ErrForbidden
	}
	u := c.APIKey.Update().
		Where(apikey.WorkspaceID(workspaceID), apikey.StatusNEQ(apikey.StatusREVOKED)).
		SetStatus(apikey.StatusREVOKED).
		SetRevokeReason(apikey.RevokeReasonBULK).
		SetRevokedAt(s.now())
	if v := viewer.FromContext(ctx); v.UserID != "" {
		u.SetRevokedBy(v.UserID)
	}
	n, err := u.Save(ctx)
	if err != nil {
		return 0, store.Classify(err)
	}
	return n, audit.Record(ctx, c, audit.Event{WorkspaceID: workspaceID, Action: audit.KeyRevokedAll, TargetType: "workspace", TargetID: workspaceID,
		Details: map[string]string{"count": fmt.Sprint(n)}})
}

// RevokeCreatedBy revokes the live keys userID created in workspaceID, when
// they leave it or are removed, and returns how many it revoked (BULK, like
// RevokeAll). The caller decides who may: ent privacy still filters the
// update to the keys the viewer may write.
func (s *Service) RevokeCreatedBy(ctx context.Context, c *ent.Client, workspaceID, userID string) (int, error) {
	u := c.APIKey.Update().
		Where(apikey.WorkspaceID(workspaceID), apikey.CreatedByID(userID), apikey.StatusNEQ(apikey.StatusREVOKED)).
		SetStatus(apikey.StatusREVOKED).
		SetRevokeReason(apikey.RevokeReasonBULK).
		SetRevokedAt(s.now())
	if v := viewer.FromContext(ctx); v != nil && v.UserID != "" {
		u.SetRevokedBy(v.UserID)
	}
	n, err := u.Save(ctx)
	if err != nil {
		return 0, store.Classify(err)
	}
	return n, nil
}

// Rotate makes a replacement for key id with the same settings; the old key
// keeps working for grace, then counts as revoked (reason ROTATED).
func (s *Service) Rotate(ctx context.Context, c *ent.Client, id string, grace time.Duration) (*Created, error) {
	k, err := c.APIKey.Get(ctx, id)
	if err != nil {
		return nil, store.Classify(err)
	}
	if !actor(ctx, k).CanManage() {
		return nil, keys.ErrForbidden
	}
	now := s.now()
	if st := State(k); st.Effective(now) == keys.StatusRevoked {
		return nil, bad("id", "a revoked key cannot be rotated; generate a new key instead")
	}
	// A rotation makes a key: not in a workspace its owner switched off.
	if ws, err := c.Workspace.Get(ctx, k.WorkspaceID); err != nil {
		return nil, store.Classify(err)
	} else if !ws.Active {
		return nil, ErrWorkspaceInactive
	}
	until, err := keys.GraceUntil(now, grace)
	if err != nil {
		return nil, bad("graceSeconds", "must be between 0 and %d", int(keys.MaxRotationGrace.Seconds()))
	}
	// The replacement gets the same credit quota, spent from zero: its own
	// budget, like its own request count (docs/billing.md).
	st := Settings{ExpiresAt: k.ExpiresAt, MaxRequests: k.MaxRequests, AllowedModels: k.AllowedModels, IPAllowlist: k.IPAllowlist,
		RPM: k.Rpm, TPM: k.Tpm, CacheEnabled: k.CacheEnabled, CreditQuotaCents: k.CreditQuotaCents,
		GroupID: k.GroupID, GatewayName: k.GatewayName}
	if st.ExpiresAt != nil && !st.ExpiresAt.After(now) {
		st.ExpiresAt = nil
	}
	created, err := s.insert(ctx, c, k.WorkspaceID, k.Label, st, k.ID)
	if err != nil {
		return nil, err
	}
	if _, err := c.APIKey.UpdateOne(k).SetGraceUntil(until).Save(ctx); err != nil {
		return nil, store.Classify(err)
	}
	return created, audit.Record(ctx, c, audit.Event{WorkspaceID: k.WorkspaceID, Action: audit.KeyRotated, TargetType: "api_key", TargetID: k.ID,
		Details: map[string]string{"new_key_id": created.Key.ID, "grace_until": until.UTC().Format(time.RFC3339)}})
}

// ReportLeaked revokes, for good, the key whose whole secret is given, and
// records who reported it and where it was found. Holding a secret is
// enough to kill it: a leaked key must die even if its finder is a stranger.
// It returns the key when the viewer may see it, else ErrNotFound (after
// revoking).
func (s *Service) ReportLeaked(ctx context.Context, c *ent.Client, secret, source string) (*ent.APIKey, error) {
	sec, err := keys.Parse(strings.TrimSpace(secret))
	if err != nil {
		return nil, bad("secret", "not an oais API key (sk-oais-…): check that it was copied whole")
	}
	source = store.Truncate(source, MaxLeakSourceLn)
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	k, err := c.APIKey.Query().Where(apikey.SecretHash(sec.Hash().String())).Only(sys)
	if err != nil {
		return nil, store.Classify(err)
	}
	if k.RevokeReason != nil && *k.RevokeReason == apikey.RevokeReasonLEAKED {
		// Already reported: the first report's time and place stand.
		if visible, err := c.APIKey.Get(ctx, k.ID); err == nil {
			return visible, nil
		}
		return nil, ErrNotFound
	}
	now := s.now()
	u := c.APIKey.UpdateOne(k).
		SetStatus(apikey.StatusREVOKED).
		SetRevokeReason(apikey.RevokeReasonLEAKED).
		SetRevokedAt(now).
		SetLeakedAt(now).
		SetLeakSource(source)
	reporter := "anonymous"
	if v := viewer.FromContext(ctx); v != nil && v.UserID != "" {
		u.SetRevokedBy(v.UserID)
		reporter = v.Email
	}
	if k, err = u.Save(sys); err != nil {
		return nil, store.Classify(err)
	}
	if err := audit.Record(ctx, c, audit.Event{WorkspaceID: k.WorkspaceID, Action: audit.KeyLeaked, TargetType: "api_key", TargetID: k.ID,
		Details: map[string]string{"source": source, "reported_by": reporter}}); err != nil {
		return nil, err
	}
	visible, err := c.APIKey.Get(ctx, k.ID)
	if err != nil {
		return nil, ErrNotFound
	}
	return visible, nil
}

// EndGraces revokes (reason ROTATED) every key whose rotation grace window
// has ended, and returns how many. The gateway already refuses such keys
// from the instant the window ends; this writes it down and audits it.
func (s *Service) EndGraces(ctx context.Context, c *ent.Client) (int, error) {
	sys := viewer.SystemContext(ctx)
	now := s.now()
	ended, err := c.APIKey.Query().Where(apikey.StatusNEQ(apikey.StatusREVOKED), apikey.GraceUntilLTE(now)).All(sys)
	if err != nil {
		return 0, store.Classify(err)
	}
	for _, k := range ended {
		if _, err := c.APIKey.UpdateOne(k).SetStatus(apikey.StatusREVOKED).SetRevokeReason(apikey.RevokeReasonROTATED).SetRevokedAt(*k.GraceUntil).Save(sys); err != nil {
			return 0, store.Classify(err)
		}
		if err := audit.Record(sys, c, audit.Event{WorkspaceID: k.WorkspaceID, Action: audit.KeyGraceEnded, TargetType: "api_key", TargetID: k.ID}); err != nil {
			return 0, err
		}
	}
	return len(ended), nil
}
