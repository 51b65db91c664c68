//go:build !unix

package spool

import (
	"os"
	"path/filepath"
)

// lockDir only creates dir/lock: the gateway runs on Unix, and elsewhere one
// process per spool directory is up to the operator.
func lockDir(dir string) (*os.File, error) {
	return os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o640)
}
