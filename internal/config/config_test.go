package config

import (
	"net/netip"
	"testing"
)

func TestParsePrefix(t *testing.T) {
	tests := []struct{ in, want string }{
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"10.1.2.3/8", "10.0.0.0/8"},
		{"192.0.2.7", "192.0.2.7/32"},
		{"2001:db8::1", "2001:db8::1/128"},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"::ffff:192.0.2.7", "192.0.2.7/32"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := ParsePrefix(tt.in)
			if err != nil || p != netip.MustParsePrefix(tt.want) {
				t.Fatalf("ParsePrefix(%q) = %v, %v; want %s", tt.in, p, err, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "10.0.0.0/33", "not-an-ip", "10.0.0.0/8/8"} {
		if _, err := ParsePrefix(bad); err == nil {
			t.Fatalf("ParsePrefix(%q) accepted", bad)
		}
	}
}

func TestLocalURL(t *testing.T) {
	tests := []struct{ name, addr, want string }{
		{"port only", ":8081", "http://localhost:8081"},
		{"loopback", "127.0.0.1:9090", "http://127.0.0.1:9090"},
		{"all IPv4", "0.0.0.0:9090", "http://localhost:9090"},
		{"all IPv6", "[::]:9090", "http://localhost:9090"},
		{"all IPv6 unbracketed", ":::9090", "http://localhost:9090"},
		{"IPv6 loopback", "[::1]:9090", "http://[::1]:9090"},
		{"IPv6 loopback unbracketed", "::1:9090", "http://[::1]:9090"},
		{"IPv6 with zone", "[fe80::1%eth0]:9090", "http://[fe80::1%25eth0]:9090"},
		{"name", "oais.internal:80", "http://oais.internal:80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LocalURL(tt.addr).String(); got != tt.want {
				t.Fatalf("LocalURL(%q) = %s, want %s", tt.addr, got, tt.want)
			}
		})
	}
}
