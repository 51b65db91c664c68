package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/oais/oais/internal/apikeys"
	"github.com/oais/oais/internal/channels"
	"github.com/oais/oais/internal/egress"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/viewer"
)

// unlimited is a limit set high enough never to refuse: every counter and
// header is still computed, as for a real limited workspace.
const unlimited = int64(1) << 40

// seed migrates the database at dbURL and makes one workspace with RPM,
// TPM, a monthly token quota and a spend cap all set (never reached), and
// one key with its own RPM and TPM. It returns the key's secret. With
// channels, the workspace also gets one OpenAI-type channel per base URL
// (benchChannels), so every request goes through the channel router.
func seed(ctx context.Context, dbURL string, chs []benchChannel) (string, error) {
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		return "", err
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		return "", fmt.Errorf("migrate: %w", err)
	}
	sys := viewer.SystemContext(ctx)
	ws, err := st.Ent.Workspace.Create().SetName("bench").SetSlug("bench-" + randHex(4)).
		SetRpm(unlimited).SetTpm(unlimited).SetMonthlyTokenQuota(unlimited).SetSpendCapCents(unlimited).
		Save(sys)
	if err != nil {
		return "", fmt.Errorf("create workspace: %w", err)
	}
	rpm, tpm := unlimited, unlimited
	k, err := (&apikeys.Service{}).Create(sys, st.Ent, apikeys.CreateParams{WorkspaceID: ws.ID, Label: "bench",
		Settings: apikeys.Settings{RPM: &rpm, TPM: &tpm}})
	if err != nil {
		return "", fmt.Errorf("create key: %w", err)
	}
	if err := seedChannels(sys, st, ws.ID, chs); err != nil {
		return "", err
	}
	return k.Secret.Reveal(), nil
}

// benchChannel is one channel of the bench workspace.
type benchChannel struct {
	name, baseURL string
	weight        int
}

// benchChannels are the "gateway, 3 channels" target's channels: three
// base paths on the one mock upstream (roles.go strips them), weights
// 1:2:1 within one priority, so every request is picked by the Router.
func benchChannels(upURL string) []benchChannel {
	return []benchChannel{
		{"bench-a", upURL + "/a/v1", 1},
		{"bench-b", upURL + "/b/v1", 2},
		{"bench-c", upURL + "/c/v1", 1},
	}
}

// seedChannels creates the channels the way an operator's createChannel
// does (channels.Service.Create: checks, egress rule, audit line), with
// the loopback network allowed as OAIS_UPSTREAM_ALLOWED_NETWORKS allows
// it for the bench's gateway.
func seedChannels(ctx context.Context, st *store.Store, ws string, chs []benchChannel) error {
	svc := &channels.Service{Egress: &egress.Policy{Allowed: []netip.Prefix{loopback}}}
	for _, c := range chs {
		w := c.weight
		if _, err := svc.Create(ctx, st.Ent, channels.Params{WorkspaceID: &ws, Name: c.name, Type: "OPENAI",
			BaseURL: c.baseURL, Weight: &w}); err != nil {
			return fmt.Errorf("create channel %s: %w", c.name, err)
		}
	}
	return nil
}

// loopback is where the bench's mock upstream listens.
var loopback = netip.MustParsePrefix("127.0.0.0/8")

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// pgDatabase is a fresh PostgreSQL database on the server at admin.
type pgDatabase struct {
	admin, name, url string
}

func createPG(ctx context.Context, admin string) (*pgDatabase, error) {
	db, err := sql.Open("pgx", admin)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		return nil, err
	}
	name := "oais_bench_" + randHex(6)
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return nil, err
	}
	u, _ := url.Parse(admin)
	u.Path = "/" + name
	return &pgDatabase{admin: admin, name: name, url: u.String()}, nil
}

func (p *pgDatabase) drop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", p.admin)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+p.name+" WITH (FORCE)")
	return err
}

// bulkKeys inserts n active keys spread over n/100 workspaces straight into
// PostgreSQL (generate_series: seconds, not minutes), for the cold-start
// measurement. Their secrets are unknown (hashes of a counter); only the
// snapshot's load is measured. Ids are as long as real ones (a 26-character
// ULID after the prefix), since the snapshot keeps every key's id.
func bulkKeys(ctx context.Context, dbURL string, n int) (time.Duration, error) {
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	start := time.Now()
	nws := max(1, n/100)
	stmts := []string{
		// Bench data only: skip the foreign-key triggers (every workspace
		// exists) and the commit's fsync.
		"SET session_replication_role = replica",
		"SET synchronous_commit = off",
		fmt.Sprintf(`INSERT INTO workspaces (id, created_at, updated_at, name, slug, rpm, tpm)
			SELECT 'ws_' || lpad(i::text, 26, '0'), now(), now(), 'bulk ' || i, 'bulk-' || i, 1000, 100000
			FROM generate_series(1, %d) AS i`, nws),
		fmt.Sprintf(`INSERT INTO api_keys (id, created_at, updated_at, label, secret_hash, masked_key, workspace_id, rpm)
			SELECT 'key_' || lpad(i::text, 26, '0'), now(), now(), 'bulk ' || i, encode(sha256(('bulk-' || i)::bytea), 'hex'),
				'sk-oais-…' || lpad((i %% 10000)::text, 4, '0'), 'ws_' || lpad((i %% %d + 1)::text, 26, '0'), 60
			FROM generate_series(1, %d) AS i`, nws, n),
		"ANALYZE api_keys",
	}
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return 0, fmt.Errorf("%s: %w", strings.Join(strings.Fields(s)[:3], " "), err)
		}
	}
	return time.Since(start), nil
}
