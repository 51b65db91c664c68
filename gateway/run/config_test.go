package run

import (
	"strings"
	"testing"

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
