package spool_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/oais/oais/gateway/spool"
	"github.com/oais/oais/internal/usage"
)

// printSink stands in for the database ledger.
type printSink struct{}

func (printSink) Ship(_ context.Context, batch []usage.Record) error {
	for _, r := range batch {
		fmt.Println("shipped", r.RequestID)
	}
	return nil
}

// The gateway's life cycle: open at start, ship in the background, append once
// per answered request, and on shutdown stop shipping, flush with a deadline
// and close.
func Example() {
	dir, _ := os.MkdirTemp("", "spool-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	s, err := spool.Open(ctx, spool.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println(err)
		return
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx, printSink{}, spool.ShipOptions{}) }()

	// Per request, after the answer ends; an error means the request must not
	// be served as metered.
	if err := s.Append(&usage.Record{RequestID: "req-1", Model: "gpt-4o-mini", Time: time.Now()}); err != nil {
		fmt.Println(err)
	}

	stop()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		fmt.Println("the shipper did not stop")
	}
	flushCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.Flush(flushCtx, printSink{}); err != nil {
		fmt.Println("left on disk for the next start:", err)
	}
	if err := s.Close(); err != nil {
		fmt.Println(err)
	}
	// Output: shipped req-1
}
