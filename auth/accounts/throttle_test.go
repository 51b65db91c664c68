package accounts_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"

	"github.com/oais/oais/auth/accounts"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
)

// TestSignInConcurrentGuesses: a client that sends its guesses all at once
// gets no more password checks than one that sends them in turn. (Checking
// the throttle first and counting the failure after the slow hash let every
// guess of a burst through.)
func TestSignInConcurrentGuesses(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s) // 3 failures per account and address
		mkUser(t, s, "burst@example.com", "the right password")
		ip := netip.MustParseAddr("203.0.113.50")
		const burst = 40
		var mu sync.Mutex
		counts := map[string]int{}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range burst {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, _, err := f.acc.SignIn(context.Background(), "burst@example.com", fmt.Sprint("guess-", i), ip)
				k := "other"
				switch {
				case errors.Is(err, accounts.ErrInvalidCredentials):
					k = "checked"
				case errors.Is(err, accounts.ErrThrottled):
					k = "throttled"
				}
				mu.Lock()
				counts[k]++
				mu.Unlock()
			}()
		}
		close(start)
		wg.Wait()
		if counts["checked"] != 3 || counts["throttled"] != burst-3 {
			t.Fatalf("%d concurrent guesses: %v; want 3 checked, the rest throttled", burst, counts)
		}
	})
}
