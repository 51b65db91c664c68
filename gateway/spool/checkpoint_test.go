package spool

import (
	"errors"
	"testing"
)

func TestParseCheckpoint(t *testing.T) {
	valid := formatCheckpoint(cursor{seg: 42, off: 1 << 20})
	for _, tc := range []struct {
		name string
		in   string
		want cursor
		ok   bool
	}{
		{name: "valid", in: string(valid), want: cursor{seg: 42, off: 1 << 20}, ok: true},
		{name: "zero", in: string(formatCheckpoint(cursor{})), ok: true},
		{name: "empty", in: ""},
		{name: "cut short", in: string(valid[:len(valid)-4])},
		{name: "trailing bytes", in: string(valid) + "x"},
		{name: "offset changed", in: "oais-spool-checkpoint v1 seg=42 off=1048577 crc=" + string(valid[len(valid)-9:])},
		{name: "negative offset", in: string(formatCheckpoint(cursor{seg: 1, off: -1}))},
		{name: "other version", in: "oais-spool-checkpoint v2 seg=1 off=0 crc=00000000\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseCheckpoint([]byte(tc.in))
			if tc.ok != (err == nil) {
				t.Fatalf("parseCheckpoint(%q) error = %v, want ok=%v", tc.in, err, tc.ok)
			}
			if err != nil && !errors.Is(err, errBadCheckpoint) {
				t.Errorf("error %v is not errBadCheckpoint", err)
			}
			if got != tc.want {
				t.Errorf("parseCheckpoint(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}
