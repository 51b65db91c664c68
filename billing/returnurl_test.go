package billing

import (
	"net/url"
	"testing"

	"github.com/oais/oais/internal/userinput"
)

// TestReturnURL attacks the billing links' return address: only pages of
// the published dashboard pass; every way to name another origin fails.
func TestReturnURL(t *testing.T) {
	bases := map[string]string{
		"root":   "https://oais.example.com",
		"path":   "https://example.com/oais/",
		"plain":  "http://localhost:8080",
		"ported": "https://oais.example.com:8443",
	}
	cases := []struct {
		name, base, raw string
		ok              bool
	}{
		{"the billing page", "root", "https://oais.example.com/w/ws_1/billing", true},
		{"with a query and fragment", "root", "https://oais.example.com/w/ws_1/billing?x=1#top", true},
		{"the default port spelled out", "root", "https://oais.example.com:443/billing", true},
		{"host case", "root", "https://OAIS.example.com/billing", true},
		{"under the base path", "path", "https://example.com/oais/w/ws_1/billing", true},
		{"the base path itself", "path", "https://example.com/oais", true},
		{"local dashboard", "plain", "http://localhost:8080/w/ws_1/billing", true},
		{"its own port", "ported", "https://oais.example.com:8443/billing", true},

		{"another host", "root", "https://evil.example/billing", false},
		{"a sibling subdomain", "root", "https://evil.oais.example.com/billing", false},
		{"a host that ends like ours", "root", "https://notoais.example.com/billing", false},
		{"plain http", "root", "http://oais.example.com/billing", false},
		{"another port", "root", "https://oais.example.com:8443/billing", false},
		{"the default port elsewhere", "ported", "https://oais.example.com/billing", false},
		{"userinfo naming our host", "root", "https://oais.example.com@evil.example/billing", false},
		{"userinfo on our host", "root", "https://user@oais.example.com/billing", false},
		{"backslash trick", "root", `https://oais.example.com\@evil.example/`, false},
		{"scheme-relative", "root", "//evil.example/billing", false},
		{"relative path", "root", "/billing", false},
		{"javascript", "root", "javascript:alert(1)", false},
		{"data", "root", "data:text/html,hi", false},
		{"outside the base path", "path", "https://example.com/other/billing", false},
		{"a path that starts like the base", "path", "https://example.com/oaisevil/billing", false},
		{"empty", "root", "", false},
		{"garbage", "root", "https://[::1", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base, err := url.Parse(bases[tc.base])
			if err != nil {
				t.Fatal(err)
			}
			got, err := ReturnURL(base, tc.raw)
			if tc.ok {
				if err != nil {
					t.Fatalf("ReturnURL(%s, %q) = %v, want it accepted", base, tc.raw, err)
				}
				if got == "" {
					t.Fatal("accepted, but returned nothing")
				}
				return
			}
			in, isInput := userinput.As(err)
			if !isInput || in.Field != "returnURL" {
				t.Fatalf("ReturnURL(%s, %q) = %q, %v; want a returnURL input error", base, tc.raw, got, err)
			}
		})
	}
	t.Run("no public URL", func(t *testing.T) {
		if _, err := ReturnURL(nil, "https://oais.example.com/"); err == nil {
			t.Fatal("accepted without a base")
		}
	})
}
