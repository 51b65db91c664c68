package auth_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/oais/oais/auth"
	"github.com/oais/oais/auth/authtest"
)

func TestThrottle(t *testing.T) {
	ip1 := netip.MustParseAddr("192.0.2.1")
	ip2 := netip.MustParseAddr("192.0.2.2")
	type step struct {
		do      string // "fail", "succeed", "advance", "allow", "deny"
		email   string
		ip      netip.Addr
		advance time.Duration
		retry   time.Duration // for "deny": the expected Retry-After
	}
	fail := func(email string, ip netip.Addr, n int) []step {
		s := make([]step, n)
		for i := range s {
			s[i] = step{do: "fail", email: email, ip: ip}
		}
		return s
	}
	cat := func(parts ...[]step) []step {
		var out []step
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name  string
		cfg   auth.ThrottleConfig
		steps []step
	}{
		{
			name: "fifth failure blocks the account from that address",
			steps: cat(fail("a@x", ip1, 4),
				[]step{{do: "allow", email: "a@x", ip: ip1}},
				fail("a@x", ip1, 1),
				[]step{{do: "deny", email: "a@x", ip: ip1, retry: 3 * time.Minute}}),
		},
		{
			name: "one attempt returns per emission interval",
			steps: cat(fail("a@x", ip1, 5), []step{
				{do: "advance", advance: 3 * time.Minute},
				{do: "allow", email: "a@x", ip: ip1},
				{do: "fail", email: "a@x", ip: ip1},
				{do: "deny", email: "a@x", ip: ip1, retry: 3 * time.Minute},
				{do: "advance", advance: 15 * time.Minute},
				{do: "allow", email: "a@x", ip: ip1},
			}),
		},
		{
			name: "email is case- and space-insensitive",
			steps: cat(fail("A@X ", ip1, 5),
				[]step{{do: "deny", email: "a@x", ip: ip1, retry: 3 * time.Minute}}),
		},
		{
			name: "other address and other account unaffected",
			steps: cat(fail("a@x", ip1, 5), []step{
				{do: "allow", email: "a@x", ip: ip2},
				{do: "allow", email: "b@x", ip: ip1},
			}),
		},
		{
			name: "success clears the account but not the address",
			cfg:  auth.ThrottleConfig{IPFailures: 6},
			steps: cat(fail("a@x", ip1, 5), []step{
				{do: "succeed", email: "a@x", ip: ip1},
				{do: "allow", email: "a@x", ip: ip1},
				{do: "fail", email: "b@x", ip: ip1},
				{do: "deny", email: "c@x", ip: ip1, retry: 2*time.Minute + 30*time.Second},
			}),
		},
		{
			name: "address limit across accounts",
			cfg:  auth.ThrottleConfig{IPFailures: 3},
			steps: []step{
				{do: "fail", email: "a@x", ip: ip1},
				{do: "fail", email: "b@x", ip: ip1},
				{do: "allow", email: "c@x", ip: ip1},
				{do: "fail", email: "c@x", ip: ip1},
				{do: "deny", email: "d@x", ip: ip1, retry: 5 * time.Minute},
				{do: "allow", email: "d@x", ip: ip2},
			},
		},
		{
			name: "ipv6 grouped by /64",
			cfg:  auth.ThrottleConfig{IPFailures: 2},
			steps: []step{
				{do: "fail", email: "a@x", ip: netip.MustParseAddr("2001:db8:1:2::1")},
				{do: "fail", email: "b@x", ip: netip.MustParseAddr("2001:db8:1:2::ffff")},
				{do: "deny", email: "c@x", ip: netip.MustParseAddr("2001:db8:1:2:aaaa::"), retry: 7*time.Minute + 30*time.Second},
				{do: "allow", email: "c@x", ip: netip.MustParseAddr("2001:db8:1:3::1")},
			},
		},
		{
			name: "bounded table forgets the oldest",
			cfg:  auth.ThrottleConfig{MaxEntries: 2},
			steps: cat(fail("a@x", ip1, 5),
				[]step{{do: "fail", email: "b@x", ip: ip2}, {do: "fail", email: "c@x", ip: netip.MustParseAddr("192.0.2.3")}},
				[]step{{do: "allow", email: "a@x", ip: ip1}}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := authtest.NewClock(time.Time{})
			cfg := tt.cfg
			cfg.Now = clock.Now
			th, err := auth.NewThrottle(cfg)
			if err != nil {
				t.Fatal(err)
			}
			for n, s := range tt.steps {
				switch s.do {
				case "fail":
					th.Fail(s.email, s.ip)
				case "succeed":
					th.Succeed(s.email, s.ip)
				case "advance":
					clock.Advance(s.advance)
				case "allow", "deny":
					ok, retry := th.Allow(s.email, s.ip)
					if ok != (s.do == "allow") || retry != s.retry {
						t.Fatalf("step %d: Allow(%s, %s) = %v, %v; want %s, %v", n, s.email, s.ip, ok, retry, s.do, s.retry)
					}
				}
			}
		})
	}
}
