package safetext

import (
	"strings"
	"testing"
)

func TestEscape(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"plain text, ünïcödé, 日本語":  "plain text, ünïcödé, 日本語",
		"bob\x1b[2J\r\n\u009b":      `bob\x1b[2J\x0d\x0a\x9b`,
		"abc\u202edcba.exe":         `abc\u202edcba.exe`, // right-to-left override
		"one\u2028two\u2029three":   `one\u2028two\u2029three`,
		"zero\u200bwidth\u00adsoft": `zero\u200bwidth\xadsoft`,
		"isolate\u2066x\u2069":      `isolate\u2066x\u2069`,
		"bad \xff utf8":             `bad \ufffd utf8`,
		"tab\there\x7f":             `tab\x09here\x7f`,
		`back\slash "q"`:            `back\slash "q"`,
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Quote("a\"b\\c\u202e"); got != `"a\"b\\c\u202e"` {
		t.Errorf("Quote = %s", got)
	}
	// Nothing unsafe survives, whatever the input.
	var all strings.Builder
	for r := rune(0); r < 0x3000; r++ {
		all.WriteRune(r)
	}
	for _, r := range Escape(all.String()) {
		if Unsafe(r) {
			t.Fatalf("Escape left %U", r)
		}
	}
}
