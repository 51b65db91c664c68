package usage

import (
	"math"
	"testing"
)

func TestSaturatingAdd(t *testing.T) {
	tests := []struct {
		name       string
		a, b, want int64
	}{
		{"small", 2, 3, 5},
		{"negative", -2, 3, 1},
		{"at the limit", math.MaxInt64 - 1, 1, math.MaxInt64},
		{"past the limit", math.MaxInt64 - 1, 2, math.MaxInt64},
		{"both huge", math.MaxInt64, math.MaxInt64, math.MaxInt64},
		{"below the limit", math.MinInt64, -1, math.MinInt64},
		{"mixed signs never saturate", math.MaxInt64, math.MinInt64, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SaturatingAdd(tt.a, tt.b); got != tt.want {
				t.Fatalf("SaturatingAdd(%d, %d) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
		})
	}
}
