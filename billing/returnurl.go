package billing

import (
	"net/url"
	"strings"

	"github.com/oais/oais/internal/userinput"
)

// ReturnURL checks raw, the page Stripe Checkout or the customer portal
// sends the user back to, against base, where the dashboard is published
// (OAIS_PUBLIC_URL): it must have base's scheme, host and port, and a path
// under base's. Anything else would make the billing mutations an open
// redirect, a link on Stripe's own domain that lands wherever its maker
// wants. It returns raw as parsed and re-encoded.
func ReturnURL(base *url.URL, raw string) (string, error) {
	if base == nil {
		return "", userinput.Errorf("returnURL", "billing links are off: OAIS_PUBLIC_URL is not set")
	}
	bad := userinput.Errorf("returnURL", "must be a page of this dashboard, under %s", base.String())
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Opaque != "" || u.User != nil {
		return "", bad
	}
	if !strings.EqualFold(u.Scheme, base.Scheme) || !strings.EqualFold(u.Hostname(), base.Hostname()) ||
		port(u) != port(base) {
		return "", bad
	}
	prefix := strings.TrimSuffix(base.EscapedPath(), "/")
	if p := u.EscapedPath(); prefix != "" && p != prefix && !strings.HasPrefix(p, prefix+"/") {
		return "", bad
	}
	return u.String(), nil
}

// port is u's port, the scheme's default when it names none.
func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}
