package secretbox

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestKeyBeside: the key is made once, mode 0600, and read back after;
// processes that start at the same moment agree on one key.
func TestKeyBeside(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	db := filepath.Join(dir, "oais.db")
	const racers = 8
	keys := make([]string, racers)
	made := make([]bool, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, path, created, err := KeyBeside(db)
			if err != nil || path != filepath.Join(dir, KeyFileName) {
				t.Errorf("KeyBeside: %q, %v", path, err)
			}
			keys[i], made[i] = k, created
		}()
	}
	wg.Wait()
	nMade := 0
	for i := range racers {
		if keys[i] != keys[0] {
			t.Fatalf("racer %d got another key", i)
		}
		if made[i] {
			nMade++
		}
	}
	if nMade != 1 {
		t.Fatalf("%d racers say they made the key, want 1", nMade)
	}
	if b, err := New(keys[0]); err != nil || !b.Enabled() {
		t.Fatalf("made key unusable: %v", err)
	}
	fi, err := os.Stat(filepath.Join(dir, KeyFileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want mode 0600", fi, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("%d files beside the database, want only the key (temporary files removed)", len(entries))
	}
	again, _, created, err := KeyBeside(db)
	if err != nil || created || again != keys[0] {
		t.Fatalf("second call: created=%v, same=%v, %v", created, again == keys[0], err)
	}

	if err := os.WriteFile(filepath.Join(dir, KeyFileName), []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := KeyBeside(db); err == nil || !strings.Contains(err.Error(), "OAIS_SECRETS_KEY") {
		t.Fatalf("a damaged key file: %v, want an error (never a new key over it)", err)
	}

	k, path, _, err := KeyBeside(":memory:")
	if err != nil || path != "" || k == "" {
		t.Fatalf("in-memory database: %q %q %v", k, path, err)
	}
}
