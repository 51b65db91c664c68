// Package config reads the environment variables of CONTRACT §1 into typed
// values. Each binary has its own Config (internal/controlplane, gateway);
// this package only parses, and names the variable in every error so a bad
// setting is one clear line at start.
package config

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Error is a bad setting: the variable and what is wrong with it.
type Error struct {
	Var string
	Msg string
}

func (e *Error) Error() string { return e.Var + ": " + e.Msg }

// Errorf returns an *Error for variable v.
func Errorf(v, format string, a ...any) error { return &Error{Var: v, Msg: fmt.Sprintf(format, a...)} }

// Env is a source of settings; os.LookupEnv by default, a map in tests.
type Env func(string) (string, bool)

// OS reads the process environment.
var OS Env = os.LookupEnv

// Map reads settings from m.
func Map(m map[string]string) Env {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// String returns the variable, or def when it is unset or empty.
func (e Env) String(name, def string) string {
	if v, ok := e(name); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	return def
}

// Duration parses a Go duration such as 1m or 250ms.
func (e Env) Duration(name string, def time.Duration, errs *[]error) time.Duration {
	v := e.String(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		*errs = append(*errs, Errorf(name, "%q is not a positive duration such as 30s or 1m", v))
		return def
	}
	return d
}

// DurationOrOff is Duration for a setting that 0 turns off: a zero
// duration ("0", "0s", "0ms") is returned as 0, a negative one refused.
func (e Env) DurationOrOff(name string, def time.Duration, errs *[]error) time.Duration {
	v := e.String(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		*errs = append(*errs, Errorf(name, "%q is not a duration such as 100ms or 1s, or 0 to turn it off", v))
		return def
	}
	return d
}

// Int parses a non-negative integer.
func (e Env) Int(name string, def int64, errs *[]error) int64 {
	v := e.String(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		*errs = append(*errs, Errorf(name, "%q is not a non-negative integer", v))
		return def
	}
	return n
}

// Bool parses true/false/1/0/yes/no.
func (e Env) Bool(name string, def bool, errs *[]error) bool {
	v := strings.ToLower(e.String(name, ""))
	switch v {
	case "":
		return def
	case "1", "true", "yes", "on":
		return true
	case "0", "false", "no", "off":
		return false
	}
	*errs = append(*errs, Errorf(name, "%q is not true or false", v))
	return def
}

// URL parses an absolute http(s) URL (or one of schemes, if given).
func (e Env) URL(name string, errs *[]error, schemes ...string) *url.URL {
	v := e.String(name, "")
	if v == "" {
		return nil
	}
	if len(schemes) == 0 {
		schemes = []string{"http", "https"}
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || !contains(schemes, u.Scheme) {
		*errs = append(*errs, Errorf(name, "%q is not a %s URL", redact(v), strings.Join(schemes, "/")))
		return nil
	}
	return u
}

// Prefixes parses a comma-separated list of CIDRs or addresses.
func (e Env) Prefixes(name string, errs *[]error) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range strings.Split(e.String(name, ""), ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		p, err := ParsePrefix(s)
		if err != nil {
			*errs = append(*errs, Errorf(name, "%q is neither an address nor a CIDR", s))
			continue
		}
		out = append(out, p)
	}
	return out
}

// ParsePrefix reads a CIDR or a bare address (one host) as the masked
// prefix that client addresses are matched against. Client addresses are
// unmapped before matching, so an IPv4-mapped form ("::ffff:10.0.0.0/104")
// becomes the IPv4 prefix it names; kept as is it would match no client.
func ParsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Addr checks a listen address such as :8080 or 127.0.0.1:8080.
func (e Env) Addr(name, def string, errs *[]error) string {
	v := e.String(name, def)
	host, port, err := splitHostPort(v)
	if err != nil || port == "" {
		*errs = append(*errs, Errorf(name, "%q is not a listen address such as :8080 or 127.0.0.1:8080", v))
		return def
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		*errs = append(*errs, Errorf(name, "port %q is not a number from 0 to 65535", port))
	}
	_ = host
	return v
}

// LocalURL is the http URL a client on this machine reaches a listen address
// at, for the links and commands printed at start: an empty or unspecified
// host (:8080, 0.0.0.0, ::) becomes localhost, and an IPv6 host is bracketed.
func LocalURL(addr string) *url.URL {
	host, port, err := net.SplitHostPort(addr)
	if err != nil { // an unbracketed IPv6 host such as ::1:8080
		host, port, _ = splitHostPort(addr)
	}
	if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return &url.URL{Scheme: "http", Host: net.JoinHostPort(host, port)}
}

func splitHostPort(s string) (string, string, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", "", fmt.Errorf("no port")
	}
	return s[:i], s[i+1:], nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<unparsable>"
	}
	return u.Redacted()
}

// Secret is a string that never prints: fmt, slog and %v all show a mask.
type Secret string

// String masks the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// LogValue masks the secret in slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Reveal returns the secret's text, for the one place that needs it.
func (s Secret) Reveal() string { return string(s) }

// Join returns the first error of errs (one clear line), or nil.
func Join(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return errs[0]
}
