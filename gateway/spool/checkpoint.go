package spool

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
)

const (
	checkpointName = "checkpoint"
	checkpointTemp = "checkpoint.tmp"
)

// cursor is a position in the spool: a segment and a byte offset in it that
// is always a frame boundary.
type cursor struct {
	seg uint64
	off int64
}

func (c cursor) before(d cursor) bool {
	return c.seg < d.seg || (c.seg == d.seg && c.off < d.off)
}

var errBadCheckpoint = errors.New("malformed checkpoint")

// formatCheckpoint renders c as one line of text an operator can read, with a
// CRC so that a half-written or damaged file is recognised instead of trusted.
func formatCheckpoint(c cursor) []byte {
	body := fmt.Sprintf("oais-spool-checkpoint v1 seg=%d off=%d", c.seg, c.off)
	return fmt.Appendf(nil, "%s crc=%08x\n", body, crc32.Checksum([]byte(body), castagnoli))
}

func parseCheckpoint(b []byte) (cursor, error) {
	var c cursor
	var crc uint32
	if _, err := fmt.Sscanf(string(b), "oais-spool-checkpoint v1 seg=%d off=%d crc=%x\n", &c.seg, &c.off, &crc); err != nil {
		return cursor{}, fmt.Errorf("%w: %w", errBadCheckpoint, err)
	}
	// Formatting again and comparing rejects anything Sscanf was lenient
	// about: trailing bytes, spacing, leading zeros, a wrong CRC.
	if c.off < 0 || string(formatCheckpoint(c)) != string(b) {
		return cursor{}, errBadCheckpoint
	}
	return c, nil
}

// readCheckpoint returns the saved cursor; no file means nothing was shipped.
func readCheckpoint(dir string) (cursor, error) {
	b, err := os.ReadFile(filepath.Join(dir, checkpointName))
	if errors.Is(err, fs.ErrNotExist) {
		return cursor{}, nil
	}
	if err != nil {
		return cursor{}, err
	}
	return parseCheckpoint(b)
}

// writeCheckpoint replaces the checkpoint atomically and durably: write a
// temporary file, fsync it, rename it over the old one, fsync the directory.
// A crash at any point leaves either the old or the new checkpoint.
func writeCheckpoint(dir string, dirf *os.File, c cursor) error {
	tmp := filepath.Join(dir, checkpointTemp)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	_, err = f.Write(formatCheckpoint(c))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, checkpointName))
	}
	if err == nil {
		err = dirf.Sync()
	}
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	return nil
}
