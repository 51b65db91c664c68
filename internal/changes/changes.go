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
	"crypto/rand"
	"encoding/hex"
	"errors"
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
	ent.TypeChannel: true,
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

// ProbeTimeout bounds how long Listen waits for its own probe notification
// after LISTEN before it decides the connection hears nothing.
var ProbeTimeout = 5 * time.Second

// errDeaf is a LISTEN that did not hear its own probe: the connection goes
// through a transaction pooler (PgBouncer, pool_mode = transaction), which
// runs LISTEN on a server connection it then lends to other clients.
var errDeaf = errors.New("LISTEN did not hear a notification sent to it")

// deafRetry is how long Listen waits before it tries again a connection
// that heard nothing: long, as a pooler will not change its mind.
const deafRetry = 5 * time.Minute

// Listen LISTENs on Channel at the PostgreSQL server dsn and sends on wake
// (without blocking) for every notification, until ctx ends. It reconnects
// by itself; while it cannot, the caller's poll carries on.
//
// After each LISTEN it sends itself a probe notification from a second
// connection: one that does not arrive within ProbeTimeout means LISTEN
// hears nothing on dsn (a transaction pooler), which it logs once, naming
// OAIS_DATABASE_LISTEN_URL, and tries again only after deafRetry.
func Listen(ctx context.Context, dsn string, wake chan<- struct{}, log *slog.Logger) {
	backoff := 250 * time.Millisecond
	logged := false
	for ctx.Err() == nil {
		err := listenOnce(ctx, dsn, wake, func() { backoff = 250 * time.Millisecond; logged = false })
		if ctx.Err() != nil {
			return
		}
		wait := backoff
		switch {
		case errors.Is(err, errDeaf):
			if !logged {
				log.Warn("change notifications: LISTEN hears nothing on this connection, as through PgBouncer in transaction mode; set OAIS_DATABASE_LISTEN_URL to a direct connection to the database. Following changes by polling meanwhile", "err", err)
				logged = true
			}
			wait = deafRetry
		case !logged:
			log.Warn("change notifications: cannot LISTEN on PostgreSQL; following changes by polling until it is back", "err", err)
			logged = true
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
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
	if err := probe(ctx, conn, dsn, wake); err != nil {
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

// probe NOTIFYs Channel from a second connection to dsn with a payload of
// its own and waits for it on conn, which LISTENs; other notifications on
// the way wake the caller as usual.
func probe(ctx context.Context, conn *pgx.Conn, dsn string, wake chan<- struct{}) error {
	var b [8]byte
	_, _ = rand.Read(b[:])
	payload := "probe:" + hex.EncodeToString(b[:])
	sender, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	_, err = sender.Exec(ctx, "SELECT pg_notify($1, $2)", Channel, payload)
	sender.Close(context.Background())
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	for {
		n, err := conn.WaitForNotification(pctx)
		switch {
		case err != nil && ctx.Err() == nil && pctx.Err() != nil:
			return errDeaf
		case err != nil:
			return err
		case n.Payload == payload:
			return nil
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
