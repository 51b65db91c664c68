package auth_test

import (
	"os"
	"testing"

	"github.com/oais/oais/auth"
)

// TestMain lowers the argon2 cost: the default costs 19 MiB per hash, which
// under -race on a shared 2-core machine would dominate the suite.
func TestMain(m *testing.M) {
	auth.PasswordParams = auth.TestPasswordParams
	os.Exit(m.Run())
}
