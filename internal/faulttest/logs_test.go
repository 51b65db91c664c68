package faulttest

import "testing"

// TestWarnings keeps a failed test's report of a child's log to its
// warnings and errors, bounded.
func TestWarnings(t *testing.T) {
	log := `{"level":"INFO","msg":"request"}
{"level":"WARN","msg":"rate limits: redis unreachable"}
{"level":"INFO","msg":"request"}
{"level":"ERROR","msg":"spool: disk full"}
`
	want := `{"level":"WARN","msg":"rate limits: redis unreachable"}
{"level":"ERROR","msg":"spool: disk full"}
`
	if got := warnings(log, 1<<10); got != want {
		t.Errorf("warnings = %q, want %q", got, want)
	}
	if got := warnings(log, 60); got != `{"level":"WARN","msg":"rate limits: redis unreachable"}`+"\n…\n" {
		t.Errorf("bounded: %q", got)
	}
	if got := warnings(`{"level":"INFO"}`, 1<<10); got != "" {
		t.Errorf("no warnings: %q", got)
	}
}
