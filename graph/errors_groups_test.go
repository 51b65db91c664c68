package graph

import (
	"fmt"
	"testing"

	keygroups "github.com/oais/oais/internal/groups"
)

func TestPresentGroups(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		code string
	}{
		{"forbidden", keygroups.ErrForbidden, CodeForbidden},
		{"forbidden wrapped", fmt.Errorf("x: %w", keygroups.ErrForbidden), CodeForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if p := Present(tc.err); p.Code != tc.code {
				t.Fatalf("Present(%v) = %+v, want code %s", tc.err, p, tc.code)
			}
		})
	}
}
