package billing

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	r := Retry{Attempts: 10, Base: 100 * time.Millisecond, Max: time.Second}
	lowest := func(n int64) int64 { return 0 }
	highest := func(n int64) int64 { return n - 1 }
	tests := []struct {
		name    string
		attempt int
		randN   func(int64) int64
		want    time.Duration
	}{
		{"first, lowest jitter", 0, lowest, 50 * time.Millisecond},
		{"first, highest jitter", 0, highest, 100 * time.Millisecond},
		{"doubles", 2, highest, 400 * time.Millisecond},
		{"capped", 5, highest, time.Second},
		{"capped, lowest jitter", 5, lowest, 500 * time.Millisecond},
		{"huge attempt does not overflow", 200, highest, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := backoff(r, tt.attempt, tt.randN); got != tt.want {
				t.Fatalf("backoff(%d) = %v, want %v", tt.attempt, got, tt.want)
			}
		})
	}
}

func TestStampFor(t *testing.T) {
	start := time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC)
	p := Period{IntervalStart: start, IntervalEnd: start.Add(time.Minute)}
	last := start.Add(59 * time.Second)
	tests := []struct {
		name string
		now  time.Time
		want time.Time
	}{
		{"prompt send is stamped inside the interval", start.Add(time.Minute + time.Second), last},
		{"at the end of the finalization grace still inside", last.Add(FinalizationGrace), last},
		{"past the grace is stamped at the attempt", last.Add(FinalizationGrace + time.Second), last.Add(FinalizationGrace + time.Second)},
		{"too old for Stripe is stamped at the attempt", start.Add(40 * 24 * time.Hour), start.Add(40 * 24 * time.Hour)},
		{"never in the future", start.Add(30 * time.Second), start.Add(30 * time.Second)},
		{"whole seconds", last.Add(2*time.Hour + 700*time.Millisecond), last.Add(2 * time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := stampFor(p, tt.now); !got.Equal(tt.want) {
				t.Fatalf("stampFor = %v, want %v", got, tt.want)
			}
		})
	}
}
