package invite

import (
	"strings"
	"testing"
)

// Every cut of a token's text, at any character (so also inside the
// prefix and inside a base32 group), is incomplete; the whole token is
// not; and no text that more characters cannot make a token is.
func TestIncomplete(t *testing.T) {
	t.Parallel()
	sc := newScenario(t, nil)
	for _, text := range []string{sc.offer.Text(), sc.answer.Text()} {
		for i := 0; i < len(text); i++ {
			if !Incomplete(text[:i]) {
				t.Fatalf("the first %d of %d characters are not incomplete: %q", i, len(text), text[:i])
			}
			if lower := strings.ToLower(text[:i]); !Incomplete(lower) {
				t.Fatalf("the first %d characters in lower case are not incomplete", i)
			}
		}
		if Incomplete(text) {
			t.Error("a whole token is incomplete")
		}
		if !Incomplete("https://example.org/join#"+text[:len(text)/2]) || !Incomplete("https://example.org/jo") {
			t.Error("a cut link is not incomplete")
		}
		// A changed character that is not at the end: complete in
		// length, damaged, so more text cannot help.
		b := []byte(text)
		b[len(b)/2] ^= 'A' ^ 'B'
		if Incomplete(string(b)) {
			t.Error("a damaged token is incomplete")
		}
	}
	for _, s := range []string{"hello", "y", "yes", "SP2P:B", "BE", "http://x", "SP2P:AE!", strings.Repeat("A", MaxTextSize+1), "ſP2P:AE"} {
		if Incomplete(s) {
			t.Errorf("%q is incomplete", s)
		}
	}
}
