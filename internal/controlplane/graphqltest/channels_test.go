package graphqltest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/oais/oais/ent/auditevent"
	"github.com/oais/oais/ent/channel"
	"github.com/oais/oais/internal/channels"
	"github.com/oais/oais/internal/ledger"
	"github.com/oais/oais/internal/usage"
)

const (
	createChannel = `mutation($in: ChannelInput!) { createChannel(input: $in) { id workspaceID name type baseURL apiVersion hasAPIKey apiKeyMask models modelMap { from to } priority weight enabled rpm tpm } }`
	updateChannel = `mutation($id: ID!, $in: ChannelInput!) { updateChannel(id: $id, input: $in) { id name hasAPIKey apiKeyMask enabled weight } }`
	deleteChannel = `mutation($id: ID!) { deleteChannel(id: $id) }`
)

// channelIn is a valid ChannelInput of ws ("" for site-wide) named name.
func channelIn(ws, name string) map[string]any {
	in := map[string]any{"name": name, "type": "OPENAI", "baseURL": "https://llm.example.com/v1",
		"models": []string{"gpt-4o"}, "modelMap": []map[string]string{{"from": "gpt-4o", "to": "my-deployment"}},
		"priority": 1, "weight": 2, "rpm": 60, "tpm": 1000}
	if ws != "" {
		in["workspaceID"] = ws
	}
	return in
}

// ownersChannel makes a fresh channel of A as its owner and returns its id.
func (w *world) ownersChannel(t *testing.T) string {
	t.Helper()
	d := w.s.must(t, w.token(asOwner), createChannel, map[string]any{"in": channelIn(w.wsA, w.s.unique("matrix-ch-"))})
	return str(t, d, "createChannel", "id")
}

// channelRows are the matrix rows of issue 17's channel operations: A's
// owners and admins manage A's channels, its other members read them, and
// to the outsider they do not exist; site-wide channels are site admins'
// (none of the matrix's actors is one).
func channelRows() []op {
	fresh := func(t *testing.T, w *world, _ actor) map[string]any {
		return map[string]any{"id": w.ownersChannel(t), "in": channelIn(w.wsA, w.s.unique("renamed-"))}
	}
	return []op{
		{name: "createChannel in A", field: "createChannel", want: manageA,
			vars: func(_ *testing.T, w *world, _ actor) map[string]any {
				return map[string]any{"in": channelIn(w.wsA, w.s.unique("ch-"))}
			},
			query: createChannel},
		{name: "createChannel site-wide", field: "createChannel", want: want(forbid, forbid, forbid, forbid, forbid, unauth),
			vars: func(_ *testing.T, w *world, _ actor) map[string]any {
				return map[string]any{"in": channelIn("", w.s.unique("site-"))}
			},
			query: createChannel},
		{name: "updateChannel of A", field: "updateChannel", want: manageA, vars: fresh, query: updateChannel},
		{name: "deleteChannel of A", field: "deleteChannel", want: manageA,
			vars: func(t *testing.T, w *world, _ actor) map[string]any {
				return map[string]any{"id": w.ownersChannel(t)}
			},
			query: deleteChannel},
		{name: "channels", field: "channels", want: anyUser,
			query: `{ channels { id workspaceID name } }`,
			check: func(t *testing.T, w *world, a actor, d map[string]any) {
				for _, c := range list(t, d, "channels") {
					ws, _ := c.(map[string]any)["workspaceID"].(string)
					if ws == "" || (ws == w.wsA && a == asOutsider) || (ws != w.wsA && ws != w.wsB) {
						t.Errorf("%s sees channel %v", a, c)
					}
				}
			}},
		{name: "workspace.usageByChannel", field: "workspace", want: readA, vars: func(_ *testing.T, w *world, _ actor) map[string]any { return rangeVars(w.wsA) },
			query: `query($id: ID!, ` + usageRange + `) { workspace(id: $id) { usageByChannel(from: $from, to: $to) { key label requests errors costMicros } } }`},
		{name: "workspace.channels", field: "workspace", want: readA, vars: wsA,
			query: `query($id: ID!) { workspace(id: $id) { channels { id name type baseURL hasAPIKey apiKeyMask models modelMap { from to } priority weight enabled rpm tpm createdAt updatedAt } } }`},
	}
}

// TestChannelsSiteWide: only a site admin creates, sees, changes and
// deletes a site-wide channel. A workspace owner gets FORBIDDEN creating
// one, does not see it in channels, and cannot touch it by its id: the
// answer is byte-identical to a made-up id's.
func TestChannelsSiteWide(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dbURL string) {
		s := start(t, dbURL, nil)
		owner := s.signUp(t, s.unique("ch-owner")+"@a.test")
		ws := s.createWorkspace(t, owner.Token, "Channels")

		d := s.must(t, s.admin.Token, createChannel, map[string]any{"in": channelIn("", "site-openai")})
		site := str(t, d, "createChannel", "id")
		if dig(t, d, "createChannel", "workspaceID") != nil {
			t.Fatalf("site-wide channel has a workspace: %v", d)
		}
		s.wantCode(t, forbid, owner.Token, createChannel, map[string]any{"in": channelIn("", "mine-site")})

		d = s.must(t, owner.Token, `{ channels { id } }`, nil)
		if n := len(list(t, d, "channels")); n != 0 {
			t.Errorf("the owner sees %d channels, want none of the site's", n)
		}
		for _, q := range []struct {
			query string
			vars  map[string]any
		}{
			{updateChannel, map[string]any{"id": site, "in": channelIn("", "taken-over")}},
			{deleteChannel, map[string]any{"id": site}},
		} {
			got := s.post(t, owner.Token, q.query, q.vars)
			if len(got.Errors) == 0 || got.Errors[0].code() != notFound {
				t.Fatalf("owner on a site-wide channel: %s, want NOT_FOUND", got.Body)
			}
			g, _ := ghost(q.vars)
			if made := s.post(t, owner.Token, q.query, g.(map[string]any)); !bytes.Equal(made.Body, got.Body) {
				t.Errorf("a site-wide channel answers differently from a made-up id:\n%s\n%s", got.Body, made.Body)
			}
		}
		// An owner cannot move their channel to the site (or elsewhere).
		d = s.must(t, owner.Token, createChannel, map[string]any{"in": channelIn(ws, "own")})
		own := str(t, d, "createChannel", "id")
		r := s.wantCode(t, badInput, owner.Token, updateChannel, map[string]any{"id": own, "in": channelIn(s.createWorkspace(t, owner.Token, "Other"), "own")})
		if r.Errors[0].Extensions["field"] != "workspaceID" {
			t.Errorf("moving a channel: %s, want an error on workspaceID", r.Body)
		}
		// The site admin sees the site's channel, not the workspace's.
		d = s.must(t, s.admin.Token, `{ channels { id } }`, nil)
		var seen []string
		for _, c := range list(t, d, "channels") {
			seen = append(seen, str(t, c, "id"))
		}
		if !contains(seen, site) || contains(seen, own) {
			t.Errorf("site admin's channels %v: want %s and not %s", seen, site, own)
		}
		s.must(t, s.admin.Token, updateChannel, map[string]any{"id": site, "in": channelIn("", "site-renamed")})
		s.must(t, s.admin.Token, deleteChannel, map[string]any{"id": site})
	})
}

// TestChannelValidation: bad input gets BAD_USER_INPUT on the field at
// fault with a message saying what to do, and nothing is stored; a base
// URL obeys the workspace upstream's network rules.
func TestChannelValidation(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dbURL string) {
		s := start(t, dbURL, nil)
		owner := s.signUp(t, s.unique("ch-val")+"@a.test")
		ws := s.createWorkspace(t, owner.Token, "Validation")
		s.must(t, owner.Token, createChannel, map[string]any{"in": channelIn(ws, "taken")})
		many := make([]string, 201)
		for i := range many {
			many[i] = s.unique("m")
		}
		for _, tc := range []struct {
			name, field string
			edit        func(in map[string]any)
		}{
			{"empty name", "name", func(in map[string]any) { in["name"] = " " }},
			{"name with a newline", "name", func(in map[string]any) { in["name"] = "a\r\nx-evil: 1" }},
			{"long name", "name", func(in map[string]any) { in["name"] = strings.Repeat("n", 101) }},
			{"duplicate name", "name", func(in map[string]any) { in["name"] = "taken" }},
			{"negative weight", "weight", func(in map[string]any) { in["weight"] = -1 }},
			{"negative rpm", "rpm", func(in map[string]any) { in["rpm"] = -5 }},
			{"metadata service", "baseURL", func(in map[string]any) { in["baseURL"] = "http://169.254.169.254/latest/meta-data/" }},
			{"loopback", "baseURL", func(in map[string]any) { in["baseURL"] = "http://127.0.0.1:8081/v1" }},
			{"private", "baseURL", func(in map[string]any) { in["baseURL"] = "http://10.1.2.3/v1" }},
			{"not http", "baseURL", func(in map[string]any) { in["baseURL"] = "file:///etc/passwd" }},
			{"credentials in the URL", "baseURL", func(in map[string]any) { in["baseURL"] = "https://u:p@llm.example.com/v1" }},
			{"too many models", "models", func(in map[string]any) { in["models"] = many }},
			{"empty model", "models", func(in map[string]any) { in["models"] = []string{""} }},
			{"model mapped twice", "modelMap", func(in map[string]any) {
				in["modelMap"] = []map[string]string{{"from": "a", "to": "b"}, {"from": "a", "to": "c"}}
			}},
			{"mapping without a target", "modelMap", func(in map[string]any) { in["modelMap"] = []map[string]string{{"from": "a", "to": ""}} }},
			{"bad api version", "apiVersion", func(in map[string]any) { in["apiVersion"] = "2024?x=1" }},
			{"long key", "apiKey", func(in map[string]any) { in["apiKey"] = strings.Repeat("k", 1001) }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				in := channelIn(ws, s.unique("v-"))
				tc.edit(in)
				r := s.wantCode(t, badInput, owner.Token, createChannel, map[string]any{"in": in})
				if f := r.Errors[0].Extensions["field"]; f != tc.field {
					t.Errorf("field %v, want %s: %s", f, tc.field, r.Body)
				}
			})
		}
		d := s.must(t, owner.Token, `query($id: ID!) { workspace(id: $id) { channels { name } } }`, map[string]any{"id": ws})
		if n := len(list(t, d, "workspace", "channels")); n != 1 {
			t.Errorf("%d channels stored, want only the first", n)
		}
		// The same name is free in another owner (another workspace, the site).
		other := s.createWorkspace(t, owner.Token, "Other")
		s.must(t, owner.Token, createChannel, map[string]any{"in": channelIn(other, "taken")})
		s.must(t, s.admin.Token, createChannel, map[string]any{"in": channelIn("", "taken")})
		s.wantCode(t, badInput, s.admin.Token, createChannel, map[string]any{"in": channelIn("", "taken")})
	})
}

// TestChannelKeyIsWriteOnly: a channel's API key is sealed at rest, never
// answered (only a mask), never in an audit line or a log; an update that
// omits it keeps it, and "" removes it. The harness scans every answer and
// the log for the key (secretSet).
func TestChannelKeyIsWriteOnly(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dbURL string) {
		s := start(t, dbURL, nil)
		owner := s.signUp(t, s.unique("ch-key")+"@a.test")
		ws := s.createWorkspace(t, owner.Token, "Keys")
		secret := "sk-provider-" + s.unique("secret-key-value-")
		s.secrets.add(secret, "channel API key")
		in := channelIn(ws, "keyed")
		in["apiKey"] = secret
		d := s.must(t, owner.Token, createChannel, map[string]any{"in": in})
		id := str(t, d, "createChannel", "id")
		if dig(t, d, "createChannel", "hasAPIKey") != true || str(t, d, "createChannel", "apiKeyMask") != secret[:3]+"…"+secret[len(secret)-4:] {
			t.Errorf("created: %v, want hasAPIKey and a mask", d)
		}
		row, err := s.cp.Store.Ent.Channel.Query().Where(channel.ID(id)).Only(sys(t))
		if err != nil {
			t.Fatal(err)
		}
		if len(row.APIKeyCiphertext) == 0 || bytes.Contains(row.APIKeyCiphertext, []byte(secret)) {
			t.Errorf("the stored key is not sealed: %q", row.APIKeyCiphertext)
		}

		delete(in, "apiKey")
		in["enabled"] = false
		d = s.must(t, owner.Token, updateChannel, map[string]any{"id": id, "in": in})
		if dig(t, d, "updateChannel", "hasAPIKey") != true || dig(t, d, "updateChannel", "enabled") != false {
			t.Errorf("update without a key: %v, want the key kept and the channel disabled", d)
		}
		in["apiKey"] = ""
		d = s.must(t, owner.Token, updateChannel, map[string]any{"id": id, "in": in})
		if dig(t, d, "updateChannel", "hasAPIKey") != false || dig(t, d, "updateChannel", "apiKeyMask") != nil {
			t.Errorf("update with an empty key: %v, want it removed", d)
		}
		s.must(t, owner.Token, deleteChannel, map[string]any{"id": id})

		acts := s.auditActions(t, owner.Token, ws)
		for _, a := range []string{"channel.created", "channel.updated", "channel.deleted"} {
			if !contains(acts[a], id) {
				t.Errorf("no %s audit line for %s: %v", a, id, acts)
			}
		}
		evs, err := s.cp.Store.Ent.AuditEvent.Query().Where(auditevent.TargetID(id)).All(sys(t))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(evs)
		if len(evs) != 4 || strings.Contains(string(b), secret) || strings.Contains(string(b), secret[len(secret)-8:]) {
			t.Errorf("audit lines of the channel: %s; want 4 (created, updated twice, deleted), none with the key", b)
		}
	})
}

// TestUsageByChannel: the channel a gateway recorded reaches the usage
// API: cost and error rate per channel, for the workspace's members only.
func TestUsageByChannel(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dbURL string) {
		s := start(t, dbURL, nil)
		w := newWorld(t, s)
		now := time.Now().UTC()
		var recs []usage.Record
		for i, ch := range []string{"azure-east", "azure-east", "openai-1"} {
			r := usage.Record{RequestID: s.unique("req-ch-"), WorkspaceID: w.wsA, KeyID: w.keyOwner, Model: "mock-gpt", Endpoint: "/v1/chat/completions",
				Status: 200, Source: usage.SourceUpstream, PromptTokens: 10, CompletionTokens: 5, CostMicros: 7, Channel: ch, Time: now}
			if i == 1 {
				r.Status, r.ErrorCode, r.Source, r.PromptTokens, r.CompletionTokens, r.CostMicros = 502, usage.ErrorCodeUpstream, usage.SourceNone, 0, 0, 0
			}
			recs = append(recs, r)
		}
		if err := ledger.New(s.cp.Store).Ship(sys(t), recs); err != nil {
			t.Fatal(err)
		}
		q := `query($id: ID!, ` + usageRange + `) { workspace(id: $id) { usageByChannel(from: $from, to: $to) { key requests errors costMicros } } }`
		d := s.must(t, w.token(asViewer), q, rangeVars(w.wsA))
		got := map[string][3]float64{}
		for _, g := range list(t, d, "workspace", "usageByChannel") {
			m := g.(map[string]any)
			got[m["key"].(string)] = [3]float64{m["requests"].(float64), m["errors"].(float64), m["costMicros"].(float64)}
		}
		if got["azure-east"] != [3]float64{1, 1, 7} || got["openai-1"] != [3]float64{1, 0, 7} {
			t.Errorf("usage by channel: %v", got)
		}
	})
}

// TestChannelsPerWorkspaceBounded: the attack was a self-service owner
// creating channels without end. Every channel of every workspace is loaded
// by every gateway (its snapshot, the router's health map) and each name is
// a label of oais_gateway_channel_failures_total, so the count was the
// tenant's to choose. A workspace holds at most channels.MaxPerOwner; the
// next is refused with a message that says what to do, and deleting one
// frees its place.
func TestChannelsPerWorkspaceBounded(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dbURL string) {
		s := start(t, dbURL, nil)
		owner := s.signUp(t, s.unique("ch-many")+"@a.test")
		ws := s.createWorkspace(t, owner.Token, "Many channels")
		var last string
		for i := range channels.MaxPerOwner {
			d := s.must(t, owner.Token, createChannel, map[string]any{"in": channelIn(ws, fmt.Sprintf("c%d", i))})
			last = str(t, d, "createChannel", "id")
		}
		r := s.wantCode(t, badInput, owner.Token, createChannel, map[string]any{"in": channelIn(ws, "one-too-many")})
		if !bytes.Contains(r.Body, []byte("delete one")) {
			t.Errorf("the refusal does not say what to do: %s", r.Body)
		}
		s.must(t, owner.Token, deleteChannel, map[string]any{"id": last})
		s.must(t, owner.Token, createChannel, map[string]any{"in": channelIn(ws, "in-its-place")})
	})
}
