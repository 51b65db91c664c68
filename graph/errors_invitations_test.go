package graph

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/oais/oais/auth/accounts"
	"github.com/oais/oais/internal/workspaces"
)

// TestPresentIssue15 maps the errors of invitations, mailed links and
// SSO-only domains to the wire, and leaks no wrapped detail.
func TestPresentIssue15(t *testing.T) {
	tests := []struct {
		err         error
		code, field string
	}{
		{fmt.Errorf("accept: %w", workspaces.ErrInvitationInvalid), CodeLinkInvalid, ""},
		{workspaces.ErrInvitationForOther, CodeEmailMismatch, ""},
		{workspaces.ErrInvitationClosed, CodeConflict, ""},
		{workspaces.ErrTooManyInvitations, CodeInvitationLimit, ""},
		{&workspaces.ThrottledError{RetryAfter: 30 * time.Second, Why: "mailed moments ago"}, CodeThrottled, ""},
		{fmt.Errorf("accept: %w", accounts.ErrEmailNotVerified), CodeEmailNotVerified, ""},
		{accounts.ErrSSORequired, CodeSSORequired, "email"},
		{fmt.Errorf("accounts: verify e-mail: %w", accounts.ErrLinkInvalid), CodeLinkInvalid, ""},
		{accounts.ErrWrongPassword, CodeBadInput, "current"},
		{&accounts.ThrottledError{RetryAfter: time.Minute}, CodeThrottled, ""},
	}
	for _, tt := range tests {
		t.Run(tt.code+" "+tt.err.Error(), func(t *testing.T) {
			p := Present(tt.err)
			if p.Code != tt.code || p.Field != tt.field {
				t.Fatalf("Present(%v) = %+v, want code %s field %q", tt.err, p, tt.code, tt.field)
			}
			if strings.Contains(p.Message, "accounts:") || strings.Contains(p.Message, "workspaces:") {
				t.Fatalf("the message shows the internal error: %q", p.Message)
			}
		})
	}
}
