package spendalerts

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/billingaccount"
	"github.com/oais/oais/internal/audit"
	"github.com/oais/oais/internal/egress"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/userinput"
	"github.com/oais/oais/internal/viewer"
	"github.com/oais/oais/internal/workspaces"
)

// MaxURLLen is the longest webhook URL; ent/schema/billing.go says
// alert_webhook_url MaxLen(2000): raise both together.
const MaxURLLen = 2000

// AuditWebhookChanged is the audit action of SetWebhook.
const AuditWebhookChanged = "billing.alert_webhook_changed"

// InputError is a webhook URL the caller must correct.
type InputError = userinput.Error

// ValidateURL checks a webhook URL: absolute http or https with a host, at
// most MaxURLLen characters.
func ValidateURL(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	bad := func(msg string) (string, error) { return "", &InputError{Field: "url", Msg: msg} }
	if len(s) > MaxURLLen {
		return bad("a webhook URL is at most 2000 characters")
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return bad("not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return bad("use an absolute http:// or https:// URL")
	case u.Host == "" || u.Hostname() == "":
		return bad("the URL has no host")
	}
	return s, nil
}

// SetWebhook sets (or, with a nil or empty url, removes) where a
// workspace's spend alerts are POSTed. Owners and admins only; a workspace
// the viewer is not in is not found. The URL must lead where dest allows
// (every address its name resolves to): the control plane POSTs there, and
// the worker checks again at every connection.
//
// The name is resolved before anything is written. Called outside a
// transaction, SetWebhook opens its own for the change and its audit line,
// after the look-up: on SQLite a transaction holds the write lock, which a
// slow (or deliberately stalling) DNS server must not get to hold. Inside
// one (ent.NewTxContext), it writes there.
func SetWebhook(ctx context.Context, c *ent.Client, dest *egress.Policy, wsID string, rawURL *string) error {
	role, member := viewer.FromContext(ctx).RoleIn(wsID)
	switch {
	case !member:
		return store.ErrNotFound
	case !role.CanManage():
		return workspaces.ErrForbidden
	}
	u := ""
	if rawURL != nil && strings.TrimSpace(*rawURL) != "" {
		var err error
		if u, err = ValidateURL(*rawURL); err != nil {
			return err
		}
		if err := checkDestination(ctx, dest, u); err != nil {
			return err
		}
	}
	return store.InTx(ctx, c, func(c *ent.Client) error { return writeWebhook(ctx, c, wsID, u) })
}

// checkDestination refuses a webhook URL that leads where dest forbids,
// naming the rule and the operator's way out.
func checkDestination(ctx context.Context, dest *egress.Policy, raw string) error {
	pu, err := url.Parse(raw)
	if err != nil {
		return &InputError{Field: "url", Msg: "not a valid URL"}
	}
	if err := dest.CheckURL(ctx, pu); err != nil {
		var fe *egress.ForbiddenError
		if errors.As(err, &fe) {
			return &InputError{Field: "url", Msg: fmt.Sprintf("%s is %s; a webhook must be a public address "+
				"(an operator can allow a network with OAIS_UPSTREAM_ALLOWED_NETWORKS)", pu.Hostname(), fe.Rule)}
		}
		return &InputError{Field: "url", Msg: "use an absolute http:// or https:// URL"}
	}
	return nil
}

// writeWebhook stores u (or removes the webhook for "") with its audit line.
func writeWebhook(ctx context.Context, c *ent.Client, wsID, u string) error {
	acct, err := c.BillingAccount.Query().Where(billingaccount.WorkspaceID(wsID)).Only(ctx)
	switch {
	case ent.IsNotFound(err):
		if u == "" {
			return nil // nothing stored, nothing to remove
		}
		err = c.BillingAccount.Create().SetWorkspaceID(wsID).SetAlertWebhookURL(u).Exec(ctx)
	case err == nil:
		upd := acct.Update()
		if u == "" {
			upd.ClearAlertWebhookURL()
		} else {
			upd.SetAlertWebhookURL(u)
		}
		err = upd.Exec(ctx)
	}
	if err != nil {
		return store.Classify(err)
	}
	// The URL itself may carry a secret (chat webhooks put their token in
	// the path), so the log keeps only where it points.
	return audit.Record(ctx, c, audit.Event{WorkspaceID: wsID, Action: AuditWebhookChanged, TargetType: "workspace", TargetID: wsID,
		Details: map[string]string{"host": hostOf(u)}})
}

func hostOf(raw string) string {
	if raw == "" {
		return "none"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "invalid"
	}
	return u.Scheme + "://" + u.Host
}
