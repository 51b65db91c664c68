package workspaces_test

import (
	"testing"

	entchannel "github.com/oais/oais/ent/channel"
	"github.com/oais/oais/internal/channels"
	"github.com/oais/oais/internal/secretbox"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/viewer"
	"github.com/oais/oais/internal/workspaces"
)

// TestUpstreamIsTheDefaultChannel: setWorkspaceUpstream manages the
// workspace's "default" channel (issue 17): set makes it with the
// upstream's URL, models and key (sealed for the channel's row), set again
// changes it, keeping the key unless given, and clear deletes it. An
// upstream stored before channels gets its channel from MigrateUpstreams,
// once, with its key moved; one whose key does not open gets none.
func TestUpstreamIsTheDefaultChannel(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := viewer.SystemContext(t.Context())
		box, err := secretbox.New("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
		if err != nil {
			t.Fatal(err)
		}
		ws, err := s.Ent.Workspace.Create().SetName("Default").SetSlug("default-ch").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		def := func() (string, []string, string) {
			t.Helper()
			ch, err := s.Ent.Channel.Query().Where(entchannel.WorkspaceID(ws.ID), entchannel.Name(workspaces.DefaultChannel)).Only(ctx)
			if err != nil {
				return "", nil, "none: " + err.Error()
			}
			key := ""
			if len(ch.APIKeyCiphertext) > 0 {
				k, err := box.Open(ch.APIKeyCiphertext, channels.AAD(ch.ID))
				if err != nil {
					t.Fatalf("default channel key does not open for its row: %v", err)
				}
				key = string(k)
			}
			return ch.BaseURL, ch.Models, key
		}
		key := "sk-upstream-one"
		if _, err := workspaces.SetUpstream(ctx, s.Ent, box, nil, ws.ID, workspaces.UpstreamParams{BaseURL: "https://llm.example.com/v1", APIKey: &key, Models: []string{"m1"}}); err != nil {
			t.Fatal(err)
		}
		if u, m, k := def(); u != "https://llm.example.com/v1" || len(m) != 1 || k != key {
			t.Fatalf("after set: %s %v %q", u, m, k)
		}
		if _, err := workspaces.SetUpstream(ctx, s.Ent, box, nil, ws.ID, workspaces.UpstreamParams{BaseURL: "https://other.example.com/v1"}); err != nil {
			t.Fatal(err)
		}
		if u, m, k := def(); u != "https://other.example.com/v1" || len(m) != 0 || k != key {
			t.Fatalf("after a change keeping the key: %s %v %q", u, m, k)
		}
		if err := workspaces.ClearUpstream(ctx, s.Ent, ws.ID); err != nil {
			t.Fatal(err)
		}
		if u, _, _ := def(); u != "" {
			t.Fatalf("after clear the default channel is still there: %s", u)
		}

		// An upstream of a version before channels: no channel yet.
		sealed, err := box.Seal([]byte(key), []byte(ws.ID))
		if err != nil {
			t.Fatal(err)
		}
		s.Ent.Upstream.Create().SetWorkspaceID(ws.ID).SetBaseURL("https://old.example.com/v1").SetAPIKeyCiphertext(sealed).SaveX(ctx)
		other, err := secretbox.New("ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=")
		if err != nil {
			t.Fatal(err)
		}
		if n, unopened, err := workspaces.MigrateUpstreams(ctx, s.Ent, other); err != nil || n != 0 || len(unopened) != 1 {
			t.Fatalf("with another sealing key: %d made, %v unopened, %v", n, unopened, err)
		}
		for i, want := range []int{1, 0} {
			n, unopened, err := workspaces.MigrateUpstreams(ctx, s.Ent, box)
			if err != nil || n != want || len(unopened) != 0 {
				t.Fatalf("run %d: %d made, %v unopened, %v; want %d", i, n, unopened, err, want)
			}
		}
		if u, _, k := def(); u != "https://old.example.com/v1" || k != key {
			t.Fatalf("migrated: %s %q", u, k)
		}
	})
}
