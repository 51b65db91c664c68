package auth

import (
	"sync"
	"testing"
)

// A burst of sign-ins, each under its own address's throttle, must not run
// more argon2 computations at once than hashSlots allows: each holds its
// memory parameter (19 MiB in production) while it runs.
func TestPasswordHashingIsBounded(t *testing.T) {
	p := Argon2Params{Memory: 4 * 1024, Time: 1, Threads: 1} // long enough to overlap
	h, err := hashWith(p, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	hashingPeak.Store(0)
	const burst = 4 * 16
	var wg sync.WaitGroup
	for i := range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				_, _ = VerifyPassword(h, "wrong password")
			} else {
				_, _ = hashWith(p, "another password")
			}
		}()
	}
	wg.Wait()
	if peak, bound := hashingPeak.Load(), int32(cap(hashSlots)); peak > bound || peak < 1 {
		t.Fatalf("%d argon2 computations ran at once; the bound is %d", peak, bound)
	}
	if n := hashing.Load(); n != 0 {
		t.Fatalf("%d computations still counted after all returned", n)
	}
}
