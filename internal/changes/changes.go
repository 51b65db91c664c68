// Package changes tells gateways at once that something they enforce
// changed (a key, a workspace's limits or standing, an upstream, a price).
// On PostgreSQL the control plane NOTIFYs inside the changing transaction,
// so the signal is delivered exactly when the change commits, and gateways
// LISTEN and reload immediately. On SQLite (one machine) gateways rely on
// their updated_at poll alone. Either way the poll stays as the safety net:
// a lost notification only delays a change to the next poll.
package changes

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/oais/oais/ent"
)

// Channel is the PostgreSQL notification channel.
const Channel = "oais_changes"

// watched are the types whose changes gateways enforce.
var watched = map[string]bool{
	ent.TypeAPIKey: true, ent.TypeWorkspace: true, ent.TypeUpstream: true, ent.TypeModelPrice: true,
}

type clientOf interface{ Client() *ent.Client }

// Hook returns an ent hook that NOTIFYs Channel after a successful mutation
// of a watched type, on the mutation's own connection (inside its
// transaction when there is one). Register it only on PostgreSQL.
func Hook() ent.Hook {
	return func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			v, err := next.Mutate(ctx, m)
			if err != nil || !watched[m.Type()] {
				return v, err
			}
			if c, ok := m.(clientOf); ok {
				// A failed notification only delays gateways to their next
				// poll; it must not fail the user's change.
				_, _ = c.Client().ExecContext(ctx, "SELECT pg_notify($1, $2)", Channel, m.Type())
			}
			return v, nil
		})
	}
}

// Listen LISTENs on Channel at the PostgreSQL server dsn and sends on wake
// (without blocking) for every notification, until ctx ends. It reconnects
// by itself; while it cannot, the caller's poll carries on.
func Listen(ctx context.Context, dsn string, wake chan<- struct{}, log *slog.Logger) {
	backoff := 250 * time.Millisecond
	logged := false
	for ctx.Err() == nil {
		err := listenOnce(ctx, dsn, wake, func() { backoff = 250 * time.Millisecond; logged = false })
		if ctx.Err() != nil {
			return
		}
		if !logged {
			log.Warn("change notifications: cannot LISTEN on PostgreSQL; following changes by polling until it is back", "err", err)
			logged = true
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

func listenOnce(ctx context.Context, dsn string, wake chan<- struct{}, connected func()) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return err
	}
	connected()
	// Changes made while we were not listening are caught by one poll.
	signal(wake)
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		signal(wake)
	}
}

func signal(wake chan<- struct{}) {
	select {
	case wake <- struct{}{}:
	default:
	}
}
