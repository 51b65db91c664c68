package graph

import (
	"fmt"
	"strings"
	"testing"

	"github.com/oais/oais/internal/apikeys"
	"github.com/oais/oais/internal/keys"
)

// TestPresentIssue16 maps the key lifecycle's errors to the wire, with the
// product guide's message for an inactive workspace, and leaks no wrapped
// detail.
func TestPresentIssue16(t *testing.T) {
	tests := []struct {
		err           error
		code, message string
	}{
		{apikeys.ErrWorkspaceInactive, CodeWorkspaceInactive, "Cannot generate tokens for inactive workspace"},
		{fmt.Errorf("rotate: %w", apikeys.ErrWorkspaceInactive), CodeWorkspaceInactive, "Cannot generate tokens for inactive workspace"},
		{keys.ErrExpiredFinal, CodeKeyExpired, "This key has expired and cannot be re-activated. Generate a new key instead."},
	}
	for _, tt := range tests {
		t.Run(tt.code+" "+tt.err.Error(), func(t *testing.T) {
			p := Present(tt.err)
			if p.Code != tt.code || p.Message != tt.message {
				t.Fatalf("Present(%v) = %+v, want %s %q", tt.err, p, tt.code, tt.message)
			}
			if strings.Contains(p.Message, "apikeys:") || strings.Contains(p.Message, "keys:") {
				t.Fatalf("the message shows the internal error: %q", p.Message)
			}
		})
	}
}
