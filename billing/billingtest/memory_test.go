package billingtest

import (
	"testing"
)

func TestStoreLedger(t *testing.T) {
	RunLedgerSuite(t, func(t *testing.T) LedgerFixture {
		t.Helper()
		s := &Store{}
		return LedgerFixture{Ledger: s, Store: s, AddUsage: s.AddUsage, Workspaces: []string{"ws_a", "ws_b", "ws_c"}}
	})
}
