package controlplane_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/oais/oais/internal/config"
	"github.com/oais/oais/internal/controlplane"
	"github.com/oais/oais/internal/storetest"
)

// TestBootstrapMixedCaseEmail: the admin address is stored normalised, and
// start-up finds it again however the operator wrote it.
func TestBootstrapMixedCaseEmail(t *testing.T) {
	cfg, err := controlplane.Load(config.Map(map[string]string{
		"OAIS_DATABASE_URL":             storetest.SQLiteURL(t),
		"OAIS_BOOTSTRAP_ADMIN_EMAIL":    "  Admin@Example.COM ",
		"OAIS_BOOTSTRAP_ADMIN_PASSWORD": "a long enough password",
	}))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	srv, err := controlplane.Open(context.Background(), cfg, slog.New(slog.DiscardHandler), &out)
	if err != nil {
		t.Fatalf("start-up with a mixed-case admin address: %v", err)
	}
	defer srv.Close()
	if !strings.Contains(out.String(), "admin@example.com") || !strings.Contains(out.String(), "sk-oais-") {
		t.Fatalf("banner: %s", out.String())
	}
}
