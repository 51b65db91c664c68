package jsonscan

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestSkipValue(t *testing.T) {
	for _, tc := range []struct {
		in   string
		at   int
		want int
	}{
		{`"a\"b" ,`, 0, 6},
		{`{"k":["]",{"x":1}],"y":"}"} tail`, 0, 27},
		{`12.5e3,`, 0, 6},
		{`null}`, 0, 4},
		{`  true`, 2, 6},
		{`"open`, 0, 5},
		{`[1,2`, 0, 4},
		{``, 0, 0},
	} {
		if got := SkipValue([]byte(tc.in), tc.at); got != tc.want {
			t.Errorf("SkipValue(%q, %d) = %d, want %d", tc.in, tc.at, got, tc.want)
		}
	}
}

func TestEndOfStringAndSpace(t *testing.T) {
	b := []byte(`  "x\\" y"`)
	if i := SkipSpace(b, 0); i != 2 {
		t.Fatalf("SkipSpace = %d, want 2", i)
	}
	if i := EndOfString(b, 3); i != 6 {
		t.Fatalf("EndOfString = %d, want 6 (an escaped backslash does not escape the quote)", i)
	}
	if i := EndOfString([]byte(`abc\"`), 0); i != 5 {
		t.Fatalf("EndOfString of an unterminated string = %d, want 5", i)
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "gpt-4o", `say "hi"\now`, "tab\there\x00\x1f", "ünïcödé ✓", "\xff\xfe"} {
		t.Run(fmt.Sprintf("%q", s), func(t *testing.T) {
			b := AppendString([]byte("x"), s)
			if b[0] != 'x' {
				t.Fatalf("prefix lost: %q", b)
			}
			var got string
			if err := json.Unmarshal(b[1:], &got); err != nil {
				t.Fatalf("%q is not a JSON string: %v", b[1:], err)
			}
			if want := strings.Map(func(r rune) rune { return r }, s); got != want {
				t.Fatalf("round trip = %q, want %q", got, want)
			}
		})
	}
}
