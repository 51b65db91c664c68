package controlplane

import (
	"fmt"
	"strings"
	"testing"

	"github.com/oais/oais/internal/config"
)

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string // the variable the error must name; "" for none
	}{
		{name: "defaults", env: map[string]string{}},
		{name: "postgres", env: map[string]string{"OAIS_DATABASE_URL": "postgres://u@127.0.0.1/db"}},
		{name: "bad database url", env: map[string]string{"OAIS_DATABASE_URL": "mysql://x"}, wantErr: "OAIS_DATABASE_URL"},
		{name: "bad addr", env: map[string]string{"OAIS_CONTROLPLANE_ADDR": "eighty"}, wantErr: "OAIS_CONTROLPLANE_ADDR"},
		{name: "bad interval", env: map[string]string{"OAIS_BILLING_INTERVAL": "soon"}, wantErr: "OAIS_BILLING_INTERVAL"},
		{name: "stripe without webhook secret", env: map[string]string{"OAIS_STRIPE_API_KEY": "sk_test_123"}, wantErr: "OAIS_STRIPE_WEBHOOK_SECRET"},
		{name: "stripe complete", env: map[string]string{"OAIS_STRIPE_API_KEY": "sk_test_123", "OAIS_STRIPE_WEBHOOK_SECRET": "whsec_1"}},
		{name: "bad stripe base", env: map[string]string{"OAIS_STRIPE_API_BASE": "not a url"}, wantErr: "OAIS_STRIPE_API_BASE"},
		{name: "oidc without client", env: map[string]string{"OAIS_OIDC_ISSUER": "https://idp.example.com", "OAIS_PUBLIC_URL": "https://oais.example.com"}, wantErr: "OAIS_OIDC_CLIENT_ID"},
		{name: "oidc without public url", env: map[string]string{"OAIS_OIDC_ISSUER": "https://idp.example.com", "OAIS_OIDC_CLIENT_ID": "c", "OAIS_OIDC_CLIENT_SECRET": "s"}, wantErr: "OAIS_PUBLIC_URL"},
		{name: "bad public url", env: map[string]string{"OAIS_PUBLIC_URL": "localhost"}, wantErr: "OAIS_PUBLIC_URL"},
		{name: "short bootstrap password", env: map[string]string{"OAIS_BOOTSTRAP_ADMIN_PASSWORD": "short"}, wantErr: "OAIS_BOOTSTRAP_ADMIN_PASSWORD"},
		{name: "bad trusted proxies", env: map[string]string{"OAIS_TRUSTED_PROXIES": "10.0.0.0/8,nope"}, wantErr: "OAIS_TRUSTED_PROXIES"},
		{name: "upstream allowed networks", env: map[string]string{"OAIS_UPSTREAM_ALLOWED_NETWORKS": "10.0.0.0/8, fd00::/8, 169.254.169.254"}},
		{name: "bad upstream allowed networks", env: map[string]string{"OAIS_UPSTREAM_ALLOWED_NETWORKS": "10.0.0.0/8, internal"}, wantErr: "OAIS_UPSTREAM_ALLOWED_NETWORKS"},
		{name: "usage retention", env: map[string]string{"OAIS_USAGE_RETENTION_DAYS": "90"}},
		{name: "negative usage retention", env: map[string]string{"OAIS_USAGE_RETENTION_DAYS": "-1"}, wantErr: "OAIS_USAGE_RETENTION_DAYS"},
		{name: "usage retention not a number", env: map[string]string{"OAIS_USAGE_RETENTION_DAYS": "forever"}, wantErr: "OAIS_USAGE_RETENTION_DAYS"},
		{name: "bad signup flag", env: map[string]string{"OAIS_ALLOW_SIGNUP": "maybe"}, wantErr: "OAIS_ALLOW_SIGNUP"},
		{name: "signup limits", env: map[string]string{"OAIS_SIGNUP_LIMITS": "5, 50"}},
		{name: "signup limits, one number", env: map[string]string{"OAIS_SIGNUP_LIMITS": "5"}, wantErr: "OAIS_SIGNUP_LIMITS"},
		{name: "signup limits, zero", env: map[string]string{"OAIS_SIGNUP_LIMITS": "0,50"}, wantErr: "OAIS_SIGNUP_LIMITS"},
		{name: "signup limits, not numbers", env: map[string]string{"OAIS_SIGNUP_LIMITS": "many,more"}, wantErr: "OAIS_SIGNUP_LIMITS"},
		{name: "redis", env: map[string]string{"OAIS_REDIS_URL": "redis://:pw@127.0.0.1:6379/2"}},
		{name: "bad redis url", env: map[string]string{"OAIS_REDIS_URL": "127.0.0.1:6379"}, wantErr: "OAIS_REDIS_URL"},
		{name: "redis cluster", env: map[string]string{"OAIS_REDIS_URL": "redis+cluster://10.0.0.1:7000,10.0.0.2:7001/"}},
		{name: "redis sentinel", env: map[string]string{"OAIS_REDIS_URL": "redis+sentinel://s1:26379,s2/mymaster/0"}},
		{name: "smtp", env: map[string]string{"OAIS_SMTP_URL": "smtp://u:p@mail.example.com:587", "OAIS_SMTP_FROM": "oais <noreply@example.com>"}},
		{name: "smtps", env: map[string]string{"OAIS_SMTP_URL": "smtps://mail.example.com", "OAIS_SMTP_FROM": "noreply@example.com"}},
		{name: "smtp without from", env: map[string]string{"OAIS_SMTP_URL": "smtp://mail.example.com"}, wantErr: "OAIS_SMTP_FROM"},
		{name: "from without smtp", env: map[string]string{"OAIS_SMTP_FROM": "noreply@example.com"}, wantErr: "OAIS_SMTP_FROM"},
		{name: "smtp not a mail url", env: map[string]string{"OAIS_SMTP_URL": "https://mail.example.com", "OAIS_SMTP_FROM": "a@b.example"}, wantErr: "OAIS_SMTP_URL"},
		{name: "bad from", env: map[string]string{"OAIS_SMTP_URL": "smtp://mail.example.com", "OAIS_SMTP_FROM": "nobody"}, wantErr: "OAIS_SMTP_FROM"},
		{name: "sso required", env: map[string]string{"OAIS_OIDC_REQUIRE": "corp.example, other.example", "OAIS_OIDC_ISSUER": "https://idp.example.com",
			"OAIS_OIDC_CLIENT_ID": "c", "OAIS_OIDC_CLIENT_SECRET": "s", "OAIS_PUBLIC_URL": "https://oais.example.com"}},
		{name: "session idle", env: map[string]string{"OAIS_SESSION_IDLE": "8h"}},
		{name: "session idle not a duration", env: map[string]string{"OAIS_SESSION_IDLE": "a day"}, wantErr: "OAIS_SESSION_IDLE"},
		{name: "session idle past the session's end", env: map[string]string{"OAIS_SESSION_IDLE": "1000h"}, wantErr: "OAIS_SESSION_IDLE"},
		{name: "sso required without sso", env: map[string]string{"OAIS_OIDC_REQUIRE": "corp.example"}, wantErr: "OAIS_OIDC_REQUIRE"},
		{name: "sso required, not a domain", env: map[string]string{"OAIS_OIDC_REQUIRE": "me@corp.example", "OAIS_OIDC_ISSUER": "https://idp.example.com",
			"OAIS_OIDC_CLIENT_ID": "c", "OAIS_OIDC_CLIENT_SECRET": "s", "OAIS_PUBLIC_URL": "https://oais.example.com"}, wantErr: "OAIS_OIDC_REQUIRE"},
		{name: "listen url beside pgbouncer", env: map[string]string{
			"OAIS_DATABASE_URL":        "postgres://u@pgbouncer:6432/db?default_query_exec_mode=cache_describe",
			"OAIS_DATABASE_LISTEN_URL": "postgres://u@db:5432/db"}},
		{name: "listen url not postgres", env: map[string]string{
			"OAIS_DATABASE_URL": "postgres://u@pgbouncer:6432/db", "OAIS_DATABASE_LISTEN_URL": "sqlite://x.db"}, wantErr: "OAIS_DATABASE_LISTEN_URL"},
		{name: "listen url beside sqlite", env: map[string]string{"OAIS_DATABASE_LISTEN_URL": "postgres://u@db:5432/db"}, wantErr: "OAIS_DATABASE_LISTEN_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(config.Map(tt.env))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr+":") {
				t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
			}
		})
	}
}

func TestSecretsNeverPrint(t *testing.T) {
	c, err := Load(config.Map(map[string]string{
		"OAIS_STRIPE_API_KEY": "sk_test_supersecret", "OAIS_STRIPE_WEBHOOK_SECRET": "whsec_supersecret",
		"OAIS_BOOTSTRAP_ADMIN_PASSWORD": "supersecret-password",
		"OAIS_SMTP_URL":                 "smtp://oais:supersecret-smtp@mail.example.com", "OAIS_SMTP_FROM": "noreply@example.com",
		"OAIS_REDIS_URL": "redis://:supersecret-redis@127.0.0.1:6379/0",
	}))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c)} {
		if !strings.Contains(s, "noreply@example.com") {
			t.Fatalf("the config did not print at all: %s", s)
		}
		if strings.Contains(s, "supersecret") {
			t.Fatalf("a secret printed: %s", s)
		}
	}
}

// TestPrintedURLs: the dashboard link and the curl printed at first start
// reach the addresses actually configured, so they work when pasted.
func TestPrintedURLs(t *testing.T) {
	tests := []struct {
		name                    string
		env                     map[string]string
		wantDashboard, wantCurl string
	}{
		{name: "defaults", env: map[string]string{}, wantDashboard: "http://localhost:8080", wantCurl: "http://localhost:8081"},
		{name: "ports only", env: map[string]string{"OAIS_CONTROLPLANE_ADDR": ":9090", "OAIS_GATEWAY_ADDR": ":9091"}, wantDashboard: "http://localhost:9090", wantCurl: "http://localhost:9091"},
		{name: "loopback", env: map[string]string{"OAIS_CONTROLPLANE_ADDR": "127.0.0.1:9090", "OAIS_GATEWAY_ADDR": "127.0.0.1:9091"}, wantDashboard: "http://127.0.0.1:9090", wantCurl: "http://127.0.0.1:9091"},
		{name: "all interfaces", env: map[string]string{"OAIS_CONTROLPLANE_ADDR": "0.0.0.0:9090", "OAIS_GATEWAY_ADDR": "[::]:9091"}, wantDashboard: "http://localhost:9090", wantCurl: "http://localhost:9091"},
		{name: "IPv6 loopback", env: map[string]string{"OAIS_CONTROLPLANE_ADDR": "[::1]:9090", "OAIS_GATEWAY_ADDR": "[::1]:9091"}, wantDashboard: "http://[::1]:9090", wantCurl: "http://[::1]:9091"},
		{name: "public URLs win", env: map[string]string{
			"OAIS_CONTROLPLANE_ADDR": ":9090", "OAIS_PUBLIC_URL": "https://oais.example.com",
			"OAIS_GATEWAY_ADDR": ":9091", "OAIS_GATEWAY_PUBLIC_URL": "https://api.example.com",
		}, wantDashboard: "https://oais.example.com", wantCurl: "https://api.example.com"},
		{name: "bad gateway addr is the gateway's error", env: map[string]string{"OAIS_GATEWAY_ADDR": "eighty"}, wantDashboard: "http://localhost:8080", wantCurl: "http://localhost:8081"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(config.Map(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.PublicURL.String(); got != tt.wantDashboard {
				t.Errorf("dashboard = %s, want %s", got, tt.wantDashboard)
			}
			if c.GatewayURL != tt.wantCurl {
				t.Errorf("curl's gateway = %s, want %s", c.GatewayURL, tt.wantCurl)
			}
		})
	}
}

// TestSessionIdleDefault: OAIS_SESSION_IDLE is read, and 24 h unset.
func TestSessionIdleDefault(t *testing.T) {
	for env, want := range map[string]string{"": "24h0m0s", "30m": "30m0s"} {
		c, err := Load(config.Map(map[string]string{"OAIS_SESSION_IDLE": env}))
		if err != nil || c.SessionIdle.String() != want {
			t.Errorf("OAIS_SESSION_IDLE=%q: %v, %v; want %s", env, c.SessionIdle, err, want)
		}
	}
}
