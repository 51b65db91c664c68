package keysnapshot_test

import (
	"context"
	"testing"
	"time"

	"github.com/oais/oais/gateway/keysnapshot"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
)

// TestIdlePollIsOneStatement: a snapshot following a database where
// nothing changes runs one statement a poll, not a refresh's five
// (workspaces, upstreams, groups, channels, keys), so an idle fleet of
// gateways costs the database 5 statements a second each, not 25. Its
// clock runs an hour ahead, so nothing the test wrote is inside the
// poll's window: every poll is an idle one.
func TestIdlePollIsOneStatement(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		owner(t, s.Ent, "idle@example.com")
		clk := &clock{t: time.Now().Add(time.Hour)}
		snap, statements, _ := counted(t, s, keysnapshot.Options{PollInterval: 5 * time.Millisecond, Now: clk.Now})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		before := statements.Load()
		go func() { done <- snap.Follow(ctx) }()
		const polls = 40
		for statements.Load()-before < polls*5 && snap.Polls() < polls {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		<-done
		n, p := statements.Load()-before, snap.Polls()
		// The first poll reads everything (its since is the load's).
		if p < 2 || n > p-1+5 {
			t.Fatalf("%d statements in %d idle polls, want one a poll (and a first full refresh)", n, p)
		}
		t.Logf("%d statements in %d idle polls", n, p)
	})
}
