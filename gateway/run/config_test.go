package run

import (
	"strings"
	"testing"
	"time"

	"github.com/oais/oais/gateway/route"

	"github.com/oais/oais/internal/config"
	"github.com/oais/oais/internal/pricing"
)

func TestUnpricedModelPrice(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		want    *pricing.Price
		wantErr string
	}{
		{name: "unset refuses unpriced models"},
		{name: "three integers", value: "15000000, 7500000,60000000",
			want: &pricing.Price{InputMicrosPerMTok: 15_000_000, CachedInputMicrosPerMTok: 7_500_000, OutputMicrosPerMTok: 60_000_000}},
		{name: "two numbers", value: "15000000,60000000", wantErr: "three numbers"},
		{name: "dollars are not micro-dollars", value: "15.00,7.50,60.00", wantErr: "not an integer"},
		{name: "negative", value: "-1,0,0", wantErr: "negative"},
		{name: "cached above input", value: "1,2,3", wantErr: "cached input rate above input rate"},
		{name: "above the bound", value: "1000000000001,0,0", wantErr: "rate above"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			if tt.value != "" {
				env["OAIS_UNPRICED_MODEL_PRICE"] = tt.value
			}
			c, err := Load(config.Map(env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), "OAIS_UNPRICED_MODEL_PRICE") || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load = %v; want an error naming OAIS_UNPRICED_MODEL_PRICE and %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (c.UnpricedModelPrice == nil) != (tt.want == nil) || tt.want != nil && *c.UnpricedModelPrice != *tt.want {
				t.Fatalf("UnpricedModelPrice = %+v, want %+v", c.UnpricedModelPrice, tt.want)
			}
		})
	}
}

func TestDatabaseListenURL(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{name: "unset"},
		{name: "direct connection beside pgbouncer", env: map[string]string{
			"OAIS_DATABASE_URL":        "postgres://u@pgbouncer:6432/db?default_query_exec_mode=cache_describe",
			"OAIS_DATABASE_LISTEN_URL": "postgres://u@db:5432/db"}},
		{name: "not postgres", env: map[string]string{
			"OAIS_DATABASE_URL": "postgres://u@pgbouncer:6432/db", "OAIS_DATABASE_LISTEN_URL": "redis://db"}, wantErr: "postgres"},
		{name: "beside sqlite", env: map[string]string{"OAIS_DATABASE_LISTEN_URL": "postgres://u@db:5432/db"}, wantErr: "PostgreSQL only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(config.Map(tt.env))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "OAIS_DATABASE_LISTEN_URL") || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Load = %v; want an error naming OAIS_DATABASE_LISTEN_URL and %q", err, tt.wantErr)
			}
		})
	}
}

func TestGatewayName(t *testing.T) {
	for _, tt := range []struct {
		value string
		ok    bool
	}{{"", true}, {"eu-prod", true}, {"gw2", true}, {"EU-prod", false}, {"eu_prod", false}, {"-eu", false}, {strings.Repeat("a", 64), false}} {
		t.Run(tt.value, func(t *testing.T) {
			c, err := Load(config.Map(map[string]string{"OAIS_GATEWAY_NAME": tt.value}))
			if !tt.ok {
				if err == nil || !strings.Contains(err.Error(), "OAIS_GATEWAY_NAME") {
					t.Fatalf("Load = %v; want an error naming OAIS_GATEWAY_NAME", err)
				}
				return
			}
			if err != nil || c.Name != tt.value {
				t.Fatalf("Load = %v, Name %q; want %q", err, c.Name, tt.value)
			}
		})
	}
}

// TestChannelSettings: the channel breaker and retry settings, defaults,
// good values and bad ones refused with an error naming the variable.
func TestChannelSettings(t *testing.T) {
	def := route.BreakerConfig{FailureThreshold: 3, Cooldown: 30 * time.Second, MaxRetryAfter: 5 * time.Minute,
		ErrorWindow: 20, ErrorMinRequests: 10}
	tests := []struct {
		name     string
		env      map[string]string
		want     route.BreakerConfig
		attempts int
		wantErr  string // the variable the error must name
	}{
		{name: "defaults", want: def, attempts: 3},
		{name: "every setting", env: map[string]string{
			"OAIS_CHANNEL_BREAKER_FAILURES": "5", "OAIS_CHANNEL_BREAKER_COOLDOWN": "1m", "OAIS_CHANNEL_BREAKER_MAX_RETRY_AFTER": "10m",
			"OAIS_CHANNEL_BREAKER_ERROR_RATIO": "0.5", "OAIS_CHANNEL_BREAKER_WINDOW": "32", "OAIS_CHANNEL_BREAKER_MIN_REQUESTS": "16",
			"OAIS_CHANNEL_MAX_ATTEMPTS": "1"},
			want: route.BreakerConfig{FailureThreshold: 5, Cooldown: time.Minute, MaxRetryAfter: 10 * time.Minute,
				ErrorRatio: 0.5, ErrorWindow: 32, ErrorMinRequests: 16}, attempts: 1},
		{name: "a short window lowers the default minimum", env: map[string]string{"OAIS_CHANNEL_BREAKER_WINDOW": "4"},
			want: route.BreakerConfig{FailureThreshold: 3, Cooldown: 30 * time.Second, MaxRetryAfter: 5 * time.Minute,
				ErrorWindow: 4, ErrorMinRequests: 4}, attempts: 3},
		{name: "ratio 0 is off", env: map[string]string{"OAIS_CHANNEL_BREAKER_ERROR_RATIO": "0"}, want: def, attempts: 3},
		{name: "failures zero", env: map[string]string{"OAIS_CHANNEL_BREAKER_FAILURES": "0"}, wantErr: "OAIS_CHANNEL_BREAKER_FAILURES"},
		{name: "failures not a number", env: map[string]string{"OAIS_CHANNEL_BREAKER_FAILURES": "three"}, wantErr: "OAIS_CHANNEL_BREAKER_FAILURES"},
		{name: "cooldown without a unit", env: map[string]string{"OAIS_CHANNEL_BREAKER_COOLDOWN": "30"}, wantErr: "OAIS_CHANNEL_BREAKER_COOLDOWN"},
		{name: "cooldown too short", env: map[string]string{"OAIS_CHANNEL_BREAKER_COOLDOWN": "10ms"}, wantErr: "OAIS_CHANNEL_BREAKER_COOLDOWN"},
		{name: "max Retry-After negative", env: map[string]string{"OAIS_CHANNEL_BREAKER_MAX_RETRY_AFTER": "-1m"}, wantErr: "OAIS_CHANNEL_BREAKER_MAX_RETRY_AFTER"},
		{name: "ratio as a percentage", env: map[string]string{"OAIS_CHANNEL_BREAKER_ERROR_RATIO": "50"}, wantErr: "OAIS_CHANNEL_BREAKER_ERROR_RATIO"},
		{name: "ratio negative", env: map[string]string{"OAIS_CHANNEL_BREAKER_ERROR_RATIO": "-0.1"}, wantErr: "OAIS_CHANNEL_BREAKER_ERROR_RATIO"},
		{name: "ratio NaN", env: map[string]string{"OAIS_CHANNEL_BREAKER_ERROR_RATIO": "NaN"}, wantErr: "OAIS_CHANNEL_BREAKER_ERROR_RATIO"},
		{name: "window above the maximum", env: map[string]string{"OAIS_CHANNEL_BREAKER_WINDOW": "64"}, wantErr: "OAIS_CHANNEL_BREAKER_WINDOW"},
		{name: "minimum above the window", env: map[string]string{"OAIS_CHANNEL_BREAKER_WINDOW": "10", "OAIS_CHANNEL_BREAKER_MIN_REQUESTS": "11"}, wantErr: "OAIS_CHANNEL_BREAKER_MIN_REQUESTS"},
		{name: "attempts zero", env: map[string]string{"OAIS_CHANNEL_MAX_ATTEMPTS": "0"}, wantErr: "OAIS_CHANNEL_MAX_ATTEMPTS"},
		{name: "attempts above the maximum", env: map[string]string{"OAIS_CHANNEL_MAX_ATTEMPTS": "11"}, wantErr: "OAIS_CHANNEL_MAX_ATTEMPTS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(config.Map(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load = %v; want an error naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.ChannelBreaker; got.Now != nil || got.FailureThreshold != tt.want.FailureThreshold || got.Cooldown != tt.want.Cooldown ||
				got.MaxRetryAfter != tt.want.MaxRetryAfter || got.ErrorRatio != tt.want.ErrorRatio || got.ErrorWindow != tt.want.ErrorWindow ||
				got.ErrorMinRequests != tt.want.ErrorMinRequests || c.ChannelMaxAttempts != tt.attempts {
				t.Fatalf("ChannelBreaker %+v, attempts %d; want %+v, %d", c.ChannelBreaker, c.ChannelMaxAttempts, tt.want, tt.attempts)
			}
		})
	}
}

func TestLeaseDivisorSetting(t *testing.T) {
	for _, tt := range []struct {
		env     string
		want    int64
		wantErr bool
	}{{"", DefaultLeaseDivisor, false}, {"0", 0, false}, {"1000", 1000, false}, {"-1", 0, true}, {"1%", 0, true}} {
		env := map[string]string{}
		if tt.env != "" {
			env["OAIS_RATELIMIT_LEASE_DIVISOR"] = tt.env
		}
		c, err := Load(config.Map(env))
		if tt.wantErr {
			if err == nil || !strings.Contains(err.Error(), "OAIS_RATELIMIT_LEASE_DIVISOR") {
				t.Errorf("%q: Load = %v; want an error naming OAIS_RATELIMIT_LEASE_DIVISOR", tt.env, err)
			}
			continue
		}
		if err != nil || c.RateLimitLeaseDivisor != tt.want {
			t.Errorf("%q: divisor %d, %v; want %d", tt.env, c.RateLimitLeaseDivisor, err, tt.want)
		}
	}
}

func TestLogFlushIntervalSetting(t *testing.T) {
	for _, tt := range []struct {
		env     string
		want    time.Duration
		wantErr bool
	}{{"", DefaultLogFlushInterval, false}, {"0", 0, false}, {"0ms", 0, false}, {"1s", time.Second, false}, {"-1s", 0, true}, {"soon", 0, true}} {
		env := map[string]string{}
		if tt.env != "" {
			env["OAIS_LOG_FLUSH_INTERVAL"] = tt.env
		}
		c, err := Load(config.Map(env))
		if tt.wantErr {
			if err == nil || !strings.Contains(err.Error(), "OAIS_LOG_FLUSH_INTERVAL") {
				t.Errorf("%q: Load = %v; want an error naming OAIS_LOG_FLUSH_INTERVAL", tt.env, err)
			}
			continue
		}
		if err != nil || c.LogFlushInterval != tt.want {
			t.Errorf("%q: interval %v, %v; want %v", tt.env, c.LogFlushInterval, err, tt.want)
		}
	}
}
