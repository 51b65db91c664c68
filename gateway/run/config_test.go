package run

import (
	"strings"
	"testing"
	"time"

	"github.com/oais/oais/gateway"
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

// settingCase is one value of a setting and what Load makes of it; ok
// false: Load must refuse it, naming the variable.
type settingCase[T comparable] struct {
	env  string // "": unset
	want T
	ok   bool
}

// testSetting loads each case's value of the variable name and checks
// what get reads from the Config, or that Load refused it by name.
func testSetting[T comparable](t *testing.T, name string, get func(Config) T, cases []settingCase[T]) {
	t.Helper()
	for _, tt := range cases {
		env := map[string]string{}
		if tt.env != "" {
			env[name] = tt.env
		}
		c, err := Load(config.Map(env))
		if !tt.ok {
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%s=%q: Load = %v; want an error naming it", name, tt.env, err)
			}
			continue
		}
		if err != nil || get(c) != tt.want {
			t.Errorf("%s=%q: got %v, %v; want %v", name, tt.env, get(c), err, tt.want)
		}
	}
}

func TestLeaseDivisorSetting(t *testing.T) {
	testSetting(t, "OAIS_RATELIMIT_LEASE_DIVISOR", func(c Config) int64 { return c.RateLimitLeaseDivisor }, []settingCase[int64]{
		{"", DefaultLeaseDivisor, true}, {"0", 0, true}, {"1000", 1000, true}, {"-1", 0, false}, {"1%", 0, false},
	})
}

func TestLogFlushIntervalSetting(t *testing.T) {
	testSetting(t, "OAIS_LOG_FLUSH_INTERVAL", func(c Config) time.Duration { return c.LogFlushInterval }, []settingCase[time.Duration]{
		{"", DefaultLogFlushInterval, true}, {"0", 0, true}, {"0ms", 0, true}, {"1s", time.Second, true}, {"-1s", 0, false}, {"soon", 0, false},
	})
}

func TestHTTPServerSetting(t *testing.T) {
	testSetting(t, "OAIS_GATEWAY_HTTP_SERVER", func(c Config) string { return c.HTTPServer }, []settingCase[string]{
		{"", HTTPServerNet, true}, {"fasthttp", HTTPServerFast, true}, {"net/http", HTTPServerNet, true}, {"nethttp", "", false}, {"h2c", "", false},
	})
}

func TestSendTimeoutSetting(t *testing.T) {
	testSetting(t, "OAIS_SEND_TIMEOUT", func(c Config) time.Duration { return c.SendTimeout }, []settingCase[time.Duration]{
		{"", gateway.DefaultSendTimeout, true}, {"30s", 30 * time.Second, true}, {"5m", 5 * time.Minute, true},
		{"0", 0, false}, {"-1s", 0, false}, {"soon", 0, false},
	})
}
