package main

import (
	"errors"
	"strings"
	"testing"
)

// The line editor: Backspace removes whole UTF-8 characters, Ctrl-U the
// line, escape sequences and other control characters are ignored, Ctrl-D
// counts only on an empty line, and a line cannot grow past the limit.
func TestEditLine(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in, want string
		err      error
	}{
		{"abc\r", "abc", nil},
		{"abc\n", "abc", nil},
		{"naïve\x7f\x7fve\r", "naïve", nil},
		{"wrong\x15right\r", "right", nil},
		{"a\x1b[Db\x1bOAc\x01\r", "abc", nil},
		{"ab\x04c\r", "abc", nil},
		{"\x04", "", errNoInput},
		{"secret\x03", "", errInterrupted},
		{"", "", errNoInput},
		{"abc", "", errNoInput},
		{strings.Repeat("x", maxPromptLine+10) + "\r", strings.Repeat("x", maxPromptLine), nil},
	} {
		var echo strings.Builder
		got, err := editLine(strings.NewReader(c.in), &echo, false)
		if string(got) != c.want || !errors.Is(err, c.err) {
			t.Errorf("editLine(%.20q) = %q, %v; want %q, %v", c.in, got, err, c.want, c.err)
		}
		if strings.Contains(echo.String(), "secret") || strings.Contains(echo.String(), "abc") {
			t.Errorf("editLine(%.20q) without echo showed %q", c.in, echo.String())
		}
	}
	var echo strings.Builder
	editLine(strings.NewReader("ab\x7fc\r"), &echo, true)
	if echo.String() != "ab\b \bc\r\n" {
		t.Errorf("echo %q", echo.String())
	}
}
