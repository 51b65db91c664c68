package keysnapshot

import (
	"context"
	"time"

	entupstream "github.com/oais/oais/ent/upstream"
	entworkspace "github.com/oais/oais/ent/workspace"
	"github.com/oais/oais/gateway"
	"github.com/oais/oais/internal/keys"
	"github.com/oais/oais/internal/viewer"
)

// Fetch implements gateway.Fetcher: the gateway calls it for a well-formed
// key that Lookup did not admit. Unless the key is usable already, or its
// hash was found unusable less than AbsentTTL ago, it waits (at most
// FetchTimeout, or until ctx ends) for one read of the key from the
// database, shared by every request for that hash, and answers as Lookup
// does afterwards. The read runs on even if the request stops waiting, so
// a slow database still gets the key into the snapshot.
func (s *Snapshot) Fetch(ctx context.Context, h keys.Hash) (*gateway.Principal, bool) {
	now := s.opts.Now()
	if p, ok := s.Lookup(h); (ok && p.Key.State.Check(now) == nil) || s.absentAt(h, now) {
		return p, ok
	}
	done := s.flights.DoChan(string(h[:]), func() (any, error) {
		s.read(h)
		return nil, nil
	})
	t := time.NewTimer(s.opts.FetchTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-ctx.Done():
	}
	return s.Lookup(h)
}

// read reads the key of hash h and applies it as a poll would: with its
// workspace (read too if the snapshot does not have it yet), revoked,
// disabled and expired keys kept as such. It runs in h's flight; a flight
// started after an earlier one finished finds its answer in memory.
func (s *Snapshot) read(h keys.Hash) {
	now := s.opts.Now()
	if p, ok := s.Lookup(h); (ok && p.Key.State.Check(now) == nil) || s.absentAt(h, now) {
		return
	}
	if !s.reads.AllowN(now, 1) {
		s.warn(warnBound, now, "key snapshot: reads of keys missing from the snapshot reached their bound; unknown keys are refused unread until it refills",
			"reads_per_second", s.opts.FetchRate, "burst", s.opts.FetchBurst)
		return
	}
	before := s.find(h)
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.FetchTimeout)
	defer cancel()
	var row keyRow
	found := false
	if err := s.readKey(ctx, h, func(r *keyRow) { row, found = r.clone(), true }); err != nil {
		s.warn(warnRead, now, "key snapshot: cannot read a key missing from the snapshot; refused as unknown", "err", err)
		return
	}
	if !found {
		s.rememberAbsent(h, now)
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.find(h); cur != before && (cur == nil || before == nil || !cur.keyFields.equal(&before.keyFields)) {
		// A poll applied the key while it was being read; keep the poll's
		// version: the next poll re-reads the row anyway (overlap).
		return
	}
	if wsID := string(row.workspaceID); s.ws[wsID] == nil {
		if err := s.readWorkspaceLocked(ctx, wsID); err != nil {
			s.warn(warnRead, now, "key snapshot: cannot read the workspace of a key missing from the snapshot; refused as unknown", "err", err)
			return
		}
		if s.ws[wsID] == nil { // deleted since the key was read
			s.rememberAbsent(h, now)
			return
		}
	}
	got, f, ok := s.decodeKey(&row, func(b []byte) string { return string(b) })
	if !ok || got != h {
		s.rememberAbsent(h, now)
		return
	}
	s.putLocked(h, &f)
	if p, ok := s.Lookup(h); !ok || p.Key.State.Check(now) != nil {
		s.rememberAbsent(h, now)
	}
}

// readWorkspaceLocked reads workspace id and its upstream, if it has
// them, and applies them as a poll would.
func (s *Snapshot) readWorkspaceLocked(ctx context.Context, id string) error {
	sys := viewer.SystemContext(ctx)
	wss, err := s.client.Workspace.Query().Where(entworkspace.IDEQ(id)).All(sys)
	if err != nil || len(wss) == 0 {
		return err
	}
	ups, err := s.client.Upstream.Query().Where(entupstream.WorkspaceIDEQ(id)).All(sys)
	if err != nil {
		return err
	}
	return s.applyWorkspacesLocked(ctx, false, wss, ups, nil)
}

// absentAt reports whether h was found unusable less than AbsentTTL
// before now.
func (s *Snapshot) absentAt(h keys.Hash, now time.Time) bool {
	until, ok := s.absent.Get(h)
	return ok && now.Before(until)
}

func (s *Snapshot) rememberAbsent(h keys.Hash, now time.Time) {
	s.absent.Add(h, now.Add(s.opts.AbsentTTL))
}

// Kinds of warning, each logged at most once per warnEvery.
const (
	warnRead = iota
	warnBound
	warnEvery = time.Minute
)

// warn logs msg unless a warning of its kind was logged less than
// warnEvery before now: a failing database or a flood of forged keys
// must not flood the log too.
func (s *Snapshot) warn(kind int, now time.Time, msg string, args ...any) {
	last := s.warned[kind].Load()
	if last != 0 && now.UnixNano()-last < int64(warnEvery) {
		return
	}
	if s.warned[kind].CompareAndSwap(last, now.UnixNano()) {
		s.opts.Logger.Warn(msg, args...)
	}
}
