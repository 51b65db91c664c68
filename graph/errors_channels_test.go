package graph

import (
	"fmt"
	"testing"

	"github.com/oais/oais/internal/channels"
	"github.com/oais/oais/internal/store"
)

// TestPresentChannels: the channel service's errors map to the wire in
// the presenter, never with their internal text.
func TestPresentChannels(t *testing.T) {
	for _, tt := range []struct {
		err           error
		code, message string
	}{
		{channels.ErrForbidden, CodeForbidden, "Your role in this workspace does not allow this."},
		{fmt.Errorf("update: %w", channels.ErrNotFound), CodeNotFound, "Not found."},
		{fmt.Errorf("create: %w", store.ErrConflict), CodeConflict, "That conflicts with an existing record."},
		{&channels.InputError{Field: "weight", Msg: "must be from 0 to 1000000"}, CodeBadInput, "must be from 0 to 1000000"},
	} {
		t.Run(tt.code, func(t *testing.T) {
			if p := Present(tt.err); p.Code != tt.code || p.Message != tt.message {
				t.Fatalf("Present(%v) = %+v, want %s %q", tt.err, p, tt.code, tt.message)
			}
		})
	}
}
