package graphqltest

import (
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/oais/oais/ent/migrate"
)

// TestNoSecretAtRest runs the flows that handle secrets (sign-up, sign-in,
// failed sign-in, refresh, sign-out, key creation, rotation, leak reports,
// a bad bearer token) and then looks for every password, token and key
// secret in every column of every table and in the log: none may be there.
func TestNoSecretAtRest(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dbURL string) {
		sealKey := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
		s := start(t, dbURL, map[string]string{"OAIS_SECRETS_KEY": sealKey})
		s.secrets.add(sealKey, "OAIS_SECRETS_KEY")
		// Some layers (the auth middleware) log through slog's default logger.
		prev := slog.Default()
		slog.SetDefault(slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
		t.Cleanup(func() { slog.SetDefault(prev) })

		w := newWorld(t, s)
		for a := asOwner; a <= asOutsider; a++ {
			u := w.users[a]
			again := s.signIn(t, u.Email, u.Password)
			d := s.must(t, "", `mutation($r: String!) { refreshSession(refreshToken: $r) { accessToken refreshToken } }`, map[string]any{"r": again.Refresh})
			s.must(t, "", `mutation($r: String!) { signOut(refreshToken: $r) }`, map[string]any{"r": str(t, d, "refreshSession", "refreshToken")})
			// Re-using a spent refresh token is refused (and must not log it either).
			s.wantCode(t, unauth, "", `mutation($r: String!) { refreshSession(refreshToken: $r) { accessToken } }`, map[string]any{"r": again.Refresh})
			wrong := "Wrong-" + u.Password
			s.secrets.add(wrong, "mistyped password")
			s.wantCode(t, unauth, "", `mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { accessToken } }`, map[string]any{"e": u.Email, "p": wrong})
		}
		// A mistyped password in the e-mail field must not be logged or stored either.
		s.secrets.add("Typed-Into-The-Wrong-Field-9", "password typed as an e-mail")
		s.wantCode(t, unauth, "", `mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { accessToken } }`,
			map[string]any{"e": "Typed-Into-The-Wrong-Field-9", "p": "x"})

		owner := w.token(asOwner)
		id, _ := w.freshKey(t, asOwner)
		s.must(t, owner, `mutation($id: ID!) { rotateAPIKey(id: $id, graceSeconds: 0) { secret } }`, map[string]any{"id": id})
		_, leaked := w.freshKey(t, asDeveloper)
		s.must(t, w.token(asViewer), `mutation($s: String!) { reportLeakedKey(secret: $s, source: "paste site") { id } }`, map[string]any{"s": leaked})
		upstreamKey := s.unique("sk-upstream-Zq7Lw9") + "x4Vb2Nn8"
		s.secrets.add(upstreamKey, "workspace upstream API key")
		s.must(t, owner, `mutation($ws: ID!, $k: String) { setWorkspaceUpstream(workspaceID: $ws, input: {baseURL: "https://upstream.example.com/v1", apiKey: $k}) { id } }`,
			map[string]any{"ws": w.wsA, "k": upstreamKey})
		channelKey := s.unique("sk-channel-Pm3Qr8") + "t6Yh1Jk5"
		s.secrets.add(channelKey, "channel API key")
		in := channelIn(w.wsA, "secret-channel")
		in["apiKey"] = channelKey
		s.must(t, owner, createChannel, map[string]any{"in": in})
		s.wantCode(t, badInput, owner, `mutation($ws: ID!) { createAPIKey(input: {workspaceID: $ws, label: ""}) { secret } }`, map[string]any{"ws": w.wsA})
		s.wantCode(t, unauth, w.users[asAdmin].Refresh, `{ viewer { id } }`, nil) // a refresh token sent as a bearer token
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := s.cp.Keys.EndGraces(ctx, s.cp.Store.Ent); err != nil {
			t.Fatal(err)
		}

		secrets := s.secrets.all()
		kinds := map[string]int{}
		for _, what := range secrets {
			kinds[what]++
		}
		if len(secrets) < 30 || kinds["response secret"] < 5 || kinds["response refreshToken"] < 10 {
			t.Fatalf("the flows saw too few secrets to prove anything: %v", kinds)
		}

		db := s.cp.Store.DB
		tables := map[string]bool{}
		for _, tb := range migrate.Tables {
			tables[tb.Name] = true
		}
		for _, name := range catalogTables(t, db, s.cp.Store.Dialect) {
			tables[name] = true
		}
		scanned := 0
		for table := range tables {
			scanned += scanTable(t, db, table, secrets)
		}
		if scanned == 0 {
			t.Fatal("scanned no rows")
		}
		logs := s.logs.String()
		if !strings.Contains(logs, `"level"`) {
			t.Fatal("the log buffer is empty; the scan proves nothing")
		}
		for secret, what := range secrets {
			if strings.Contains(logs, secret) {
				t.Errorf("the log contains a %s", what)
			}
		}
	})
}

// catalogTables lists the database's own tables (ent's and any others, such
// as the migration bookkeeping).
func catalogTables(t *testing.T, db *sql.DB, dialect string) []string {
	t.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`
	if dialect == "postgres" {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
	}
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// scanTable reads every row of table and reports any column holding a
// secret; it returns how many rows it read.
func scanTable(t *testing.T, db *sql.DB, table string, secrets map[string]string) int {
	t.Helper()
	rows, err := db.Query(`SELECT * FROM "` + table + `"`)
	if err != nil {
		t.Fatalf("read %s: %v", table, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("scan %s: %v", table, err)
		}
		n++
		for i, v := range vals {
			var text string
			switch v := v.(type) {
			case nil:
				continue
			case []byte:
				text = string(v)
			case string:
				text = v
			default:
				text = fmt.Sprint(v)
			}
			for secret, what := range secrets {
				if strings.Contains(text, secret) {
					t.Errorf("%s.%s holds a %s", table, cols[i], what)
				}
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}
