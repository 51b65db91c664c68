package userinput_test

import (
	"fmt"
	"testing"

	"github.com/oais/oais/internal/userinput"
)

func TestAsFindsWrapped(t *testing.T) {
	err := fmt.Errorf("saving: %w", userinput.Errorf("name", "at most %d characters", 100))
	e, ok := userinput.As(err)
	if !ok || e.Field != "name" || e.Msg != "at most 100 characters" || err.Error() != "saving: name: at most 100 characters" {
		t.Fatalf("As(%v) = %+v, %v", err, e, ok)
	}
	if _, ok := userinput.As(fmt.Errorf("other")); ok {
		t.Fatal("As found an input error in a plain error")
	}
}
