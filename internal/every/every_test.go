package every_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oais/oais/internal/every"
)

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts func(wake chan struct{}) []every.Option
		kick bool
	}{
		{"now calls at once", func(chan struct{}) []every.Option { return []every.Option{every.Now()} }, false},
		{"wake calls early", func(w chan struct{}) []every.Option { return []every.Option{every.Wake(w)} }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			wake := make(chan struct{}, 1)
			called := make(chan struct{}, 8)
			done := make(chan error, 1)
			go func() {
				done <- every.Run(ctx, time.Hour, func(context.Context) { called <- struct{}{} }, tc.opts(wake)...)
			}()
			if tc.kick {
				wake <- struct{}{}
			}
			select {
			case <-called:
			case <-time.After(10 * time.Second):
				t.Fatal("f was not called before the first hour-long interval")
			}
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Run = %v, want nil", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after its context ended")
			}
		})
	}
}

func TestRunTicks(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var n atomic.Int32
	reached := make(chan struct{})
	go every.Run(ctx, time.Millisecond, func(context.Context) {
		if n.Add(1) == 3 {
			close(reached)
		}
	})
	select {
	case <-reached:
	case <-time.After(10 * time.Second):
		t.Fatalf("f ran %d times in 10 s at a 1 ms interval", n.Load())
	}
}

func TestRunEndedContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := every.Run(ctx, time.Millisecond, func(context.Context) { t.Error("f called after the context ended") }, every.Now()); err != nil {
		t.Fatal(err)
	}
}

func TestZero(t *testing.T) {
	var n atomic.Int64
	if err := every.Zero(t.Context(), &n, time.Millisecond); err != nil {
		t.Fatalf("Zero on zero = %v", err)
	}
	n.Store(2)
	go func() {
		time.Sleep(5 * time.Millisecond)
		n.Add(-1)
		time.Sleep(5 * time.Millisecond)
		n.Add(-1)
	}()
	if err := every.Zero(t.Context(), &n, time.Millisecond); err != nil || n.Load() != 0 {
		t.Fatalf("Zero = %v with n = %d, want nil at 0", err, n.Load())
	}
	n.Store(1) // never drains
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := every.Zero(ctx, &n, time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Zero with n stuck at 1 = %v, want the context's error", err)
	}
}
