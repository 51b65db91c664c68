package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/oais/oais/auth/authtest"
)

// TestRotateIfOlder replaces the signing key only once it is old enough,
// exactly once; retired keys' retention is covered by the rotation tests.
func TestRotateIfOlder(t *testing.T) {
	ctx := context.Background()
	clock := authtest.NewClock(time.Time{})
	store := &authtest.KeyStore{}
	i := newIssuer(t, store, clock)
	if rotated, err := i.RotateIfOlder(ctx, 24*time.Hour); err != nil || rotated {
		t.Fatalf("young key rotated: %v %v", rotated, err)
	}
	clock.Advance(25 * time.Hour)
	if rotated, err := i.RotateIfOlder(ctx, 24*time.Hour); err != nil || !rotated {
		t.Fatalf("old key not rotated: %v %v", rotated, err)
	}
	keys, _ := store.SigningKeys(ctx)
	if len(keys) != 2 {
		t.Fatalf("%d keys stored, want 2", len(keys))
	}
	if rotated, _ := i.RotateIfOlder(ctx, 24*time.Hour); rotated {
		t.Fatal("rotated twice")
	}
	if _, err := i.Verify(ctx, issue(t, i)); err != nil {
		t.Fatalf("new token: %v", err)
	}
}
