package deploy_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// repoRoot is the module root, where deploy/ lives.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// engine is a container engine that can run containers here: podman or docker.
type engine struct{ name string }

// containerEngine returns podman or docker, whichever runs containers here
// (CONTAINER_ENGINE picks one), or skips the test saying how to get one.
func containerEngine(t *testing.T) engine {
	t.Helper()
	names := []string{"podman", "docker"}
	if e := os.Getenv("CONTAINER_ENGINE"); e != "" {
		names = []string{e}
	}
	var why []string
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			why = append(why, n+" is not installed")
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := exec.CommandContext(ctx, n, "info").CombinedOutput()
		cancel()
		if err != nil {
			why = append(why, fmt.Sprintf("'%s info' fails (%s)", n, firstLine(out)))
			continue
		}
		return engine{name: n}
	}
	t.Skipf("no container engine can run containers here: %s; as root 'make podman' installs podman and runc", strings.Join(why, ", "))
	return engine{}
}

// runFlags are given to every container run: the runtime and ulimits a
// sandboxed runc can apply (podman's default nofile is above what such a
// machine allows), and the hardening the Helm chart asks of Kubernetes
// (read-only root, no capabilities, no privilege gain), so the image is
// tested the way it is deployed.
var runFlags = []string{
	"--runtime", "runc",
	"--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768",
	"--read-only", "--tmpfs", "/tmp",
	"--cap-drop", "ALL", "--security-opt", "no-new-privileges",
}

// run runs the engine with args and returns its combined output.
func (e engine) run(ctx context.Context, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, e.name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", e.name, strings.Join(args, " "), err, tail(out.String(), 2048))
	}
	return out.String(), nil
}

// must runs the engine and fails the test on an error.
func (e engine) must(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := e.run(ctx, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
