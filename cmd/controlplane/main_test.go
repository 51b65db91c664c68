package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestBadAllowedNetworksExits: a bad OAIS_UPSTREAM_ALLOWED_NETWORKS stops
// the control plane before anything starts, with one line naming the
// variable; --help documents it.
func TestBadAllowedNetworksExits(t *testing.T) {
	t.Setenv("OAIS_UPSTREAM_ALLOWED_NETWORKS", "10.0.0.0/8, internal")
	var out, errOut bytes.Buffer
	if code := run([]string{"serve"}, &out, &errOut); code != 2 {
		t.Fatalf("exit %d, want 2; stderr %q", code, errOut.String())
	}
	if lines := strings.Split(strings.TrimSpace(errOut.String()), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "OAIS_UPSTREAM_ALLOWED_NETWORKS") {
		t.Fatalf("stderr %q, want one line naming OAIS_UPSTREAM_ALLOWED_NETWORKS", errOut.String())
	}
	out.Reset()
	if code := run([]string{"help"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "OAIS_UPSTREAM_ALLOWED_NETWORKS") {
		t.Fatalf("help (exit %d) does not document OAIS_UPSTREAM_ALLOWED_NETWORKS", code)
	}
}

// TestSecretsKeyRequiredOnPostgres: on PostgreSQL (replicas, backups kept
// apart from the machine) there is no data directory to keep a generated
// key in, so serve refuses to start without OAIS_SECRETS_KEY, before it
// touches the database: one line naming the variable and how to make one.
// The database here does not answer, so nothing but the configuration can
// be what stops it.
func TestSecretsKeyRequiredOnPostgres(t *testing.T) {
	t.Setenv("OAIS_DATABASE_URL", "postgres://postgres@127.0.0.1:1/oais?sslmode=disable&connect_timeout=1")
	t.Setenv("OAIS_SECRETS_KEY", "")
	var out, errOut bytes.Buffer
	if code := run([]string{"serve"}, &out, &errOut); code != 2 {
		t.Fatalf("exit %d, want 2; stderr %q", code, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(errOut.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "OAIS_SECRETS_KEY") || !strings.Contains(lines[0], "openssl rand -base64 32") {
		t.Fatalf("stderr %q, want one line naming OAIS_SECRETS_KEY and how to make one", errOut.String())
	}
}

// TestHelpNamesThrottleSettings: --help documents the variables of the
// shared throttles.
func TestHelpNamesThrottleSettings(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"serve", "--help"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, v := range []string{"OAIS_SIGNUP_LIMITS", "OAIS_REDIS_URL", "OAIS_SECRETS_KEY"} {
		if !strings.Contains(out.String(), v) {
			t.Errorf("--help does not name %s", v)
		}
	}
}
