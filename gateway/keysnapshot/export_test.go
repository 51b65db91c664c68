package keysnapshot

import "github.com/oais/oais/gateway"

// SetMinRebuild lowers how many changed keys trigger an index rebuild, so a
// test can reach it with a few keys; it returns a func restoring it.
func SetMinRebuild(n int) (restore func()) {
	old := minRebuild
	minRebuild = n
	return func() { minRebuild = old }
}

// Recent returns how many keys live outside the index.
func (s *Snapshot) Recent() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nRecent
}

// WorkspacePolicy returns the current policy of workspace id.
func WorkspacePolicy(s *Snapshot, id string) (*gateway.WorkspacePolicy, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ws := s.ws[id]
	if ws == nil {
		return nil, false
	}
	return ws.policy.Load(), true
}
