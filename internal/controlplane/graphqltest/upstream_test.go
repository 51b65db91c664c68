package graphqltest

import (
	"net/http"
	"strings"
	"testing"
)

const setUpstream = `mutation($ws: ID!, $u: String!) { setWorkspaceUpstream(workspaceID: $ws, input: {baseURL: $u}) { id upstream { baseURL } } }`

// TestSetWorkspaceUpstreamRefusesInternalDestinations is the SSRF attack at
// the door: a workspace admin (any admin may set the upstream) points the
// workspace at the cloud metadata service, the private network, the
// gateway's own loopback, in every spelling. Each is refused with
// BAD_USER_INPUT on baseURL and a message naming the rule, and nothing is
// stored; a public address and a network the operator allows
// (OAIS_UPSTREAM_ALLOWED_NETWORKS) are accepted.
func TestSetWorkspaceUpstreamRefusesInternalDestinations(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dbURL string) {
		s := start(t, dbURL, nil)
		admin := s.signUp(t, s.unique("upstream-admin")+"@a.test")
		ws := s.createWorkspace(t, admin.Token, "Upstreams")
		for _, tc := range []struct {
			url, rule string // rule: a word the message must name
		}{
			{"http://169.254.169.254/latest/meta-data/", "metadata"},
			{"http://metadata.google.internal/computeMetadata/v1", "metadata"},
			{"http://METADATA.Google.Internal./computeMetadata/v1", "metadata"},
			{"http://metadata/computeMetadata/v1", "metadata"},
			{"http://[fd00:ec2::254]/latest/meta-data/", "metadata"},
			{"http://[::ffff:169.254.169.254]/latest/meta-data/", "metadata"},
			{"http://10.1.2.3/v1", "private"},
			{"http://172.16.0.9/v1", "private"},
			{"https://192.168.1.20:8443/v1", "private"},
			{"http://[::ffff:10.1.2.3]/v1", "private"},
			{"http://[::ffff:a01:203]/v1", "private"},
			{"http://[fc00::1]/v1", "private"},
			{"http://[fd12:3456::1]/v1", "private"},
			{"http://127.0.0.1:8081/v1", "loopback"},
			{"http://127.8.9.10/v1", "loopback"},
			{"http://localhost:8080/v1", "loopback"},
			{"http://api.localhost/v1", "loopback"},
			{"http://[::1]:8080/v1", "loopback"},
			{"http://[::ffff:127.0.0.1]/v1", "loopback"},
			{"http://169.254.1.1/v1", "link-local"},
			{"http://[fe80::1]/v1", "link-local"},
			{"http://[fe80::1%25eth0]/v1", "link-local"},
			{"http://0.0.0.0:8081/v1", "unspecified"},
			{"http://[::]:8081/v1", "unspecified"},
			{"http://100.64.0.1/v1", "carrier-grade NAT"},
			{"http://100.100.100.200/latest/meta-data/", "metadata"}, // Alibaba Cloud's, inside 100.64/10
			{"http://224.0.0.1/v1", "multicast"},
			{"http://[ff02::1]/v1", "multicast"},
			{"http://2130706433/v1", "non-standard"}, // 127.0.0.1 as one decimal number
			{"http://0x7f.0.0.1/v1", "non-standard"},
			{"http://0177.0.0.1/v1", "non-standard"},
			{"file:///etc/passwd", "http"},
			{"gopher://127.0.0.1:6379/_FLUSHALL", "http"},
		} {
			t.Run(tc.url, func(t *testing.T) {
				r := s.post(t, admin.Token, setUpstream, map[string]any{"ws": ws, "u": tc.url})
				if r.Status != http.StatusOK || len(r.Errors) == 0 {
					t.Fatalf("accepted %s: %s", tc.url, r.Body)
				}
				e := r.Errors[0]
				if e.code() != "BAD_USER_INPUT" || e.Extensions["field"] != "baseURL" {
					t.Errorf("%s: error %s, want BAD_USER_INPUT on baseURL", tc.url, r.Body)
				}
				if !strings.Contains(strings.ToLower(e.Message), strings.ToLower(tc.rule)) {
					t.Errorf("%s: message %q does not name the rule (%q)", tc.url, e.Message, tc.rule)
				}
			})
		}
		d := s.must(t, admin.Token, `query($id: ID!) { workspace(id: $id) { upstream { baseURL } } }`, map[string]any{"id": ws})
		if up := dig(t, d, "workspace", "upstream"); up != nil {
			t.Fatalf("a refused upstream was stored: %v", up)
		}
		// A name that does not resolve here is left to the gateway's dial-time
		// check (it may resolve where the gateway runs).
		s.must(t, admin.Token, setUpstream, map[string]any{"ws": ws, "u": "https://llm.example.com/v1"})

		// The operator's allowed networks open exactly those networks.
		allowed := start(t, dbURL, map[string]string{"OAIS_UPSTREAM_ALLOWED_NETWORKS": "10.0.0.0/8, fd12:3456::/32"})
		admin = allowed.signIn(t, admin.Email, admin.Password)
		for _, u := range []string{"http://10.1.2.3/v1", "http://[fd12:3456::1]/v1", "http://[::ffff:10.9.9.9]/v1"} {
			d := allowed.must(t, admin.Token, setUpstream, map[string]any{"ws": ws, "u": u})
			if got := str(t, d, "setWorkspaceUpstream", "upstream", "baseURL"); got != u {
				t.Errorf("stored %q, want %q", got, u)
			}
		}
		for _, u := range []string{"http://169.254.169.254/", "http://192.168.1.1/v1", "http://127.0.0.1/v1"} {
			if r := allowed.post(t, admin.Token, setUpstream, map[string]any{"ws": ws, "u": u}); len(r.Errors) == 0 || r.Errors[0].code() != "BAD_USER_INPUT" {
				t.Errorf("with 10.0.0.0/8 allowed, %s: %s, want BAD_USER_INPUT", u, r.Body)
			}
		}
	})
}
