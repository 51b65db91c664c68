package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The Bifrost peer (bench/peers/bifrost) is a separate Go module, so that
// none of Bifrost's dependencies enter oais's: the bench builds it with the
// go command at run time and runs it as a child process like its own roles.
// When it cannot be built (no go command, no module proxy, a compile
// error), the bench says why in one line and goes on without it.

// peerModuleDir is the peer's module, relative to the repository root.
const peerModuleDir = "bench/peers/bifrost"

// peerBuildTimeout bounds a build; a cold one (nothing in the module or
// build caches: Bifrost links every provider's SDK) takes one to two
// minutes on two busy cores, a warm one a few seconds.
const peerBuildTimeout = 5 * time.Minute

// findPeerDir finds bench/peers/bifrost from the working directory up (the
// bench runs from the repository root, its tests from cmd/oais-bench).
func findPeerDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, peerModuleDir)
		if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%s/go.mod not found above the working directory", peerModuleDir)
		}
		dir = parent
	}
}

// buildPeer runs `go build -o out` in the peer's module and returns how
// long it took.
func buildPeer(ctx context.Context, out string) (time.Duration, error) {
	dir, err := findPeerDir()
	if err != nil {
		return 0, err
	}
	gocmd, err := exec.LookPath("go")
	if err != nil {
		if p := filepath.Join(goroot(), "bin", "go"); fileExists(p) {
			gocmd = p
		} else {
			return 0, errors.New("no go command on PATH")
		}
	}
	bctx, cancel := context.WithTimeout(ctx, peerBuildTimeout)
	defer cancel()
	cmd := exec.CommandContext(bctx, gocmd, "build", "-o", out, ".")
	cmd.Dir = dir
	// The peer's own go.mod decides; a workspace or -mod flag meant for
	// oais's module must not.
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-buildvcs=false")
	start := time.Now()
	b, err := cmd.CombinedOutput()
	took := time.Since(start)
	if bctx.Err() == context.DeadlineExceeded {
		return took, fmt.Errorf("go build did not finish in %v", peerBuildTimeout)
	}
	if err != nil {
		return took, fmt.Errorf("go build in %s: %v: %s", peerModuleDir, err, lastLines(string(b), 3))
	}
	return took, nil
}

func goroot() string {
	if r := os.Getenv("GOROOT"); r != "" {
		return r
	}
	return "/usr/local/go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// lastLines is the last n non-empty lines of s, joined with " | ".
func lastLines(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}

// peerCoreVersion is the bifrost/core version the peer's go.mod requires.
func peerCoreVersion() string {
	dir, err := findPeerDir()
	if err != nil {
		return "?"
	}
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "github.com/maximhq/bifrost/core" {
			return f[1]
		}
	}
	return "?"
}
