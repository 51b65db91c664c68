package secretbox

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeyFileName is the file, in the embedded SQLite database's directory,
// that keeps the key both binaries use when OAIS_SECRETS_KEY is unset.
const KeyFileName = "secrets.key"

// memoryDB is store.SQLitePath's answer for the in-memory database.
const memoryDB = ":memory:"

// KeyBeside returns the key kept beside the SQLite database file dbPath
// (KeyFileName in the same directory) and that file's path, making the key
// first if there is none: 32 random bytes, base64, mode 0600. created
// reports that this call made it. The file is written whole under another
// name and then linked into place, which fails if it exists: a control
// plane and a gateway starting at once read one key, never half of one,
// and never replace each other's.
//
// For the in-memory database it returns a fresh key that nothing keeps
// (path ""): the database does not outlive the process either.
func KeyBeside(dbPath string) (key, path string, created bool, err error) {
	if dbPath == memoryDB {
		k, err := generateKey()
		return k, "", true, err
	}
	path = filepath.Join(filepath.Dir(dbPath), KeyFileName)
	if key, err = readKeyFile(path); !errors.Is(err, fs.ErrNotExist) {
		return key, path, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return "", path, false, fmt.Errorf("secretbox: create the key's folder: %w", err)
	}
	if key, err = generateKey(); err != nil {
		return "", path, false, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".secrets-*.key") // mode 0600
	if err != nil {
		return "", path, false, fmt.Errorf("secretbox: write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(key + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", path, false, fmt.Errorf("secretbox: write %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		key, err = readKeyFile(path) // another process made it first
		return key, path, false, err
	} else if err != nil {
		return "", path, false, fmt.Errorf("secretbox: write %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync() // the new name survives a power cut
		_ = d.Close()
	}
	return key, path, true, nil
}

func readKeyFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	key := strings.TrimSpace(string(b))
	if _, err := New(key); err != nil || key == "" {
		return "", fmt.Errorf("secretbox: %s does not hold a key (32 bytes, base64): restore it from a backup, or set OAIS_SECRETS_KEY", path)
	}
	return key, nil
}

func generateKey() (string, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return "", fmt.Errorf("secretbox: generate a key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(k), nil
}
