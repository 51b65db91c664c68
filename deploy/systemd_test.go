package deploy_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// unit is a systemd unit file: section -> key -> every value it was given.
type unit map[string]map[string][]string

func readUnit(t *testing.T, path string) unit {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u, section := unit{}, ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s: cannot read %q", path, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

// last is the value systemd uses for a single-valued key.
func (u unit) last(section, key string) string {
	vs := u[section][key]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

// env is the unit's Environment= value of name.
func (u unit) env(name string) string {
	for _, v := range u["Service"]["Environment"] {
		if val, ok := strings.CutPrefix(v, name+"="); ok {
			return val
		}
	}
	return ""
}

// exampleDrain is OAIS_DRAIN_TIMEOUT as oais.env.example sets it.
func exampleDrain(t *testing.T) time.Duration {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "systemd", "oais.env.example"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^OAIS_DRAIN_TIMEOUT=(\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("oais.env.example does not set OAIS_DRAIN_TIMEOUT")
	}
	d, err := time.ParseDuration(string(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

var units = []struct {
	file, binary string
}{
	{"oais-controlplane.service", "controlplane"},
	{"oais-gateway.service", "gateway"},
}

// TestSystemdUnits reads the units and asserts the shutdown and hardening
// they promise: SIGTERM with a stop timeout above the drain, restart on
// failure, an unprivileged user, a read-only system with only the state
// directory writable, no capabilities, and the gateway's spool inside that
// state directory.
func TestSystemdUnits(t *testing.T) {
	drain := exampleDrain(t)
	for _, tc := range units {
		t.Run(tc.binary, func(t *testing.T) {
			u := readUnit(t, filepath.Join(repoRoot(t), "deploy", "systemd", tc.file))
			want := map[string]string{
				"Type":             "exec",
				"ExecStart":        "/usr/local/bin/" + tc.binary + " serve",
				"KillSignal":       "SIGTERM",
				"Restart":          "on-failure",
				"DynamicUser":      "yes",
				"NoNewPrivileges":  "yes",
				"ProtectSystem":    "strict",
				"ProtectHome":      "yes",
				"PrivateTmp":       "yes",
				"StateDirectory":   "oais",
				"EnvironmentFile":  "-/etc/oais/oais.env",
				"WorkingDirectory": "/var/lib/oais",
			}
			for k, v := range want {
				if got := u.last("Service", k); got != v {
					t.Errorf("%s=%q, want %q", k, got, v)
				}
			}
			if u.last("Service", "User") == "" || u.last("Service", "User") == "root" {
				t.Errorf("User=%q: run as the unit's own user", u.last("Service", "User"))
			}
			if caps, ok := u["Service"]["CapabilityBoundingSet"]; !ok || u.last("Service", "CapabilityBoundingSet") != "" || len(caps) != 1 {
				t.Errorf("CapabilityBoundingSet=%v, want empty (no capabilities)", caps)
			}
			stop, err := time.ParseDuration(u.last("Service", "TimeoutStopSec"))
			if err != nil {
				t.Fatalf("TimeoutStopSec=%q: %v", u.last("Service", "TimeoutStopSec"), err)
			}
			if stop <= drain {
				t.Errorf("TimeoutStopSec %v is not above OAIS_DRAIN_TIMEOUT %v: systemd would SIGKILL a drain", stop, drain)
			}
			if tc.binary == "gateway" {
				if spool := u.env("OAIS_SPOOL_DIR"); !strings.HasPrefix(spool, "/var/lib/oais/") {
					t.Errorf("OAIS_SPOOL_DIR=%q is not in the state directory /var/lib/oais (ProtectSystem=strict makes the rest read-only)", spool)
				}
			}
			if db := u.env("OAIS_DATABASE_URL"); db != "sqlite:///var/lib/oais/oais.db" {
				t.Errorf("default OAIS_DATABASE_URL=%q, want SQLite in the state directory", db)
			}
		})
	}
}

// TestSystemdAnalyze runs systemd-analyze verify on both units (with
// ExecStart pointing at stand-ins, since verify wants the binaries to
// exist) and fails on any complaint, warnings included; where systemd can
// score a unit offline, it also holds each to an exposure of at most 2.0
// ("OK"). Figure: each unit's exposure.
func TestSystemdAnalyze(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (Debian: apt-get install -y systemd): unit files not verified")
	}
	dir := t.TempDir()
	var paths []string
	for _, tc := range units {
		b, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "systemd", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		stub := filepath.Join(dir, tc.binary)
		if err := os.WriteFile(stub, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, tc.file)
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(string(b), "/usr/local/bin/", dir+"/")), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	out, err := exec.Command(sa, append([]string{"verify"}, paths...)...).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, p := range paths {
		out, err := exec.Command(sa, "security", "--offline=yes", "--threshold=20", p).CombinedOutput()
		if strings.Contains(string(out), "Unknown option") || strings.Contains(string(out), "unrecognized option") {
			t.Logf("this systemd-analyze cannot score units offline: %s", firstLine(out))
			continue
		}
		level := regexp.MustCompile(`Overall exposure level for \S+: (\S+ \S+)`).FindSubmatch(out)
		if err != nil || level == nil {
			t.Errorf("systemd-analyze security %s: %v\n%s", filepath.Base(p), err, tail(string(out), 4096))
			continue
		}
		t.Logf("FIGURE %s exposure %s", filepath.Base(p), level[1])
	}
}
