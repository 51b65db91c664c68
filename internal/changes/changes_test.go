package changes_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/oais/oais/ent"
	"github.com/oais/oais/internal/changes"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/viewer"
)

func TestMain(m *testing.M) { storetest.Main(m) }

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestListen: on a direct connection a notification wakes the listener;
// through PgBouncer in transaction mode LISTEN runs on a server connection
// the pooler lends to others, so nothing ever arrives, and the listener
// must say so (naming OAIS_DATABASE_LISTEN_URL) instead of going quiet:
// before the probe, a gateway behind PgBouncer followed changes by its poll
// alone with no word in its logs.
func TestListen(t *testing.T) {
	changes.ProbeTimeout = time.Second
	s := storetest.Postgres(t)
	for _, tc := range []struct {
		name   string
		dsn    string
		hears  bool
		advice string
	}{
		{"direct", storetest.DirectURL(s), true, ""},
		{"through PgBouncer", storetest.PooledURL(t, s), false, "OAIS_DATABASE_LISTEN_URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			var logs logBuffer
			wake := make(chan struct{}, 1)
			done := make(chan struct{})
			go func() {
				changes.Listen(ctx, tc.dsn, wake, slog.New(slog.NewTextHandler(&logs, nil)))
				close(done)
			}()
			defer func() { cancel(); <-done }()
			if tc.hears {
				select { // the wake-up a new listener sends for what it missed
				case <-wake:
				case <-time.After(10 * time.Second):
					t.Fatalf("the listener never started: %s", logs.String())
				}
			} else {
				deadline := time.Now().Add(10 * time.Second)
				for !strings.Contains(logs.String(), tc.advice) {
					if time.Now().After(deadline) {
						t.Fatalf("LISTEN through the pooler: no log naming %s within 10 s; logs: %q", tc.advice, logs.String())
					}
					time.Sleep(20 * time.Millisecond)
				}
				// A notification now gets lost, as the log says.
			}
			sent := time.Now()
			if _, err := s.DB.ExecContext(ctx, "SELECT pg_notify($1, 'APIKey')", changes.Channel); err != nil {
				t.Fatal(err)
			}
			select {
			case <-wake:
				if !tc.hears {
					t.Fatalf("a notification arrived through the pooler; logs: %s", logs.String())
				}
				t.Logf("FIGURE %s: notification heard %v after it was sent", tc.name, time.Since(sent).Round(time.Millisecond))
			case <-time.After(2 * time.Second):
				if tc.hears {
					t.Fatalf("no wake-up within 2 s of a notification; logs: %s", logs.String())
				}
				t.Logf("FIGURE %s: nothing heard, and the log says: %s", tc.name, strings.TrimSpace(logs.String()))
			}
		})
	}
}

// TestHookNotifiesChannels: a channel's change is one gateways enforce
// (issue 17), so its mutation NOTIFYs like a key's: a gateway reloads its
// channels at once, not at its next poll.
func TestHookNotifiesChannels(t *testing.T) {
	s := storetest.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, storetest.DirectURL(s))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+changes.Channel); err != nil {
		t.Fatal(err)
	}
	s.Ent.Use(changes.Hook())
	sys := viewer.SystemContext(ctx)
	ch, err := s.Ent.Channel.Create().SetName("site").SetBaseURL("https://llm.example.com/v1").Save(sys)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []func() error{
		func() error { return nil }, // the create above
		func() error { return s.Ent.Channel.UpdateOneID(ch.ID).SetEnabled(false).Exec(sys) },
		func() error { return s.Ent.Channel.DeleteOneID(ch.ID).Exec(sys) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			t.Fatalf("no notification: %v", err)
		}
		if n.Payload != ent.TypeChannel {
			t.Fatalf("notified %q, want %q", n.Payload, ent.TypeChannel)
		}
	}
}
