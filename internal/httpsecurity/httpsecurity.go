// Package httpsecurity sets the security headers both binaries send on
// every answer: the browser never sniffs a content type, never frames a
// page, sends no referrer to other sites, and, once a request reached us
// over HTTPS, remembers to use nothing else (HSTS).
package httpsecurity

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// HSTS is the Strict-Transport-Security value: a year, subdomains included.
const HSTS = "max-age=31536000; includeSubDomains"

// The header values, shared by every response. net/http copies or replaces
// a header's values and never writes into them, so one slice each serves
// every request without an allocation (the gateway's hot path).
var (
	nosniff  = []string{"nosniff"}
	deny     = []string{"DENY"}
	referrer = []string{"same-origin"}
	hsts     = []string{HSTS}
)

// Options say when a request counts as HTTPS.
type Options struct {
	// HTTPS says the service is published over HTTPS (OAIS_PUBLIC_URL is
	// https), whatever the last hop that reached this process was.
	HTTPS bool
	// TrustedProxies are the peers whose X-Forwarded-Proto is believed
	// (OAIS_TRUSTED_PROXIES), as for X-Forwarded-For.
	TrustedProxies []netip.Prefix
}

// Headers wraps next so that every answer carries the headers, set before
// next runs: a handler that needs another value replaces it.
func Headers(next http.Handler, o Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["X-Content-Type-Options"] = nosniff
		h["X-Frame-Options"] = deny
		h["Referrer-Policy"] = referrer
		if o.HTTPS || o.overTLS(r) {
			h["Strict-Transport-Security"] = hsts
		}
		next.ServeHTTP(w, r)
	})
}

// overTLS reports whether r came over TLS: to this process, or to a trusted
// proxy that says so. Browsers ignore HSTS received over plain HTTP, so a
// wrong yes costs nothing; a wrong no only delays HSTS to the next request.
func (o Options) overTLS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	proto := r.Header.Get("X-Forwarded-Proto")
	if proto == "" || len(o.TrustedProxies) == 0 {
		return false
	}
	// The nearest proxy's word: the last of a comma-separated list.
	if i := strings.LastIndexByte(proto, ','); i >= 0 {
		proto = proto[i+1:]
	}
	if !strings.EqualFold(strings.TrimSpace(proto), "https") {
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	peer = peer.Unmap().WithZone("")
	for _, p := range o.TrustedProxies {
		if p.Contains(peer) {
			return true
		}
	}
	return false
}
