package gateway

import (
	"sync"
	"testing"
	"time"
)

// waitBound is how long a test waits for something that, when the code
// works, happens at once. It only turns a hang into a failure that names
// what never came (a broken forwarder used to stall a channel until the
// package timeout, hiding every other failure); nothing asserts on timing.
const waitBound = 10 * time.Second

// recv returns the next value of ch, or fails the test naming what it
// waited for.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitBound):
	}
	t.Fatalf("waited %v for %s", waitBound, what)
	var zero T
	return zero
}

// send hands v to ch's receiver, or fails the test naming the receiver.
func send[T any](t testing.TB, ch chan<- T, v T, what string) {
	t.Helper()
	select {
	case ch <- v:
	case <-time.After(waitBound):
		t.Fatalf("waited %v for %s", waitBound, what)
	}
}

// wait waits for wg, or fails the test naming what it waited for.
func wait(t testing.TB, wg *sync.WaitGroup, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	recv(t, done, what)
}

// waitFor polls cond until it holds, or fails the test naming what it
// waited for (a settlement that lands just after the answer, say).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitBound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", waitBound, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
