package graph

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/oais/oais/auth/accounts"
)

// TestPresenterRetryAfter: a THROTTLED answer says how long to wait, in
// whole seconds rounded up, in extensions.retryAfter; other errors carry
// none.
func TestPresenterRetryAfter(t *testing.T) {
	present := ErrorPresenter(slog.New(slog.DiscardHandler))
	tests := []struct {
		name string
		err  error
		want any
	}{
		{"sign-in throttle", fmt.Errorf("sign in: %w", &accounts.ThrottledError{RetryAfter: 90*time.Second + time.Millisecond}), 91},
		{"under a second", &accounts.ThrottledError{RetryAfter: time.Millisecond}, 1},
		{"not throttled", accounts.ErrInvalidCredentials, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := present(context.Background(), tt.err)
			if got := e.Extensions["retryAfter"]; got != tt.want {
				t.Fatalf("retryAfter = %v, want %v (extensions %v)", got, tt.want, e.Extensions)
			}
		})
	}
}
