package graphqltest

import (
	"testing"

	"github.com/oais/oais/internal/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }
