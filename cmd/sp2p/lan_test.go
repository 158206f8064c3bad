package main

import (
	"strings"
	"testing"
)

func TestLooksLikeCode(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"42-adroitness-aardvark-adviser": true,
		"7-x":                            true,
		"999-a-b-c":                      true,
		"1000-a-b-c":                     false,
		"SP2P:AIA":                       false,
		"-":                              false,
		"https://example.org/#SP2P:AIA":  false,
		"a1-b-c-d":                       false,
	} {
		if got := looksLikeCode(s); got != want {
			t.Errorf("looksLikeCode(%q) = %v", s, got)
		}
	}
}

// A mistyped code is a usage error that says what is wrong, before any
// network; --from names must resolve; the LAN's arguments do not go with
// --no-lan, and not with a token too.
func TestBinaryLANUsageErrors(t *testing.T) {
	t.Parallel()
	home := newHome(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"receive", "--out", t.TempDir(), "42-adroitness-aardvark-advisor"}, "adviser"},
		{[]string{"receive", "--out", t.TempDir(), "42-aardvark"}, "words"},
		{[]string{"accept", "--from", "nobody"}, "nobody"},
		{[]string{"receive", "--out", t.TempDir(), "--no-lan", "42-adroitness-aardvark-adviser"}, "--no-lan"},
		{[]string{"accept", "--from", "nobody", "SP2P:AIA"}, "in one way"},
	} {
		r := runBinary(t, home, "", c.args...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, want 2 and %q:\n%s", c.args, r.code, c.want, r.stderr)
		}
	}
}
