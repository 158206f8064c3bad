package shortcode

import (
	"errors"
	"testing"
)

// FuzzParse: any text is either rejected with an error wrapping
// ErrInvalidCode, or gives a valid Code whose canonical form parses back to
// itself.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"42-adroitness-aardvark-adviser",
		" 7 GUITARIST revenge yucatan ",
		"999-yucatan-zulu-yesteryear",
		"0-a-b-c",
		"42-adroitnes-ardvark-adviser",
		"42-aardvark-adroitness-adviser",
		"",
		"----",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidCode) {
				t.Fatalf("Parse(%q): %v does not wrap ErrInvalidCode", s, err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse(%q) = %v, invalid: %v", s, c, err)
		}
		back, err := Parse(c.String())
		if err != nil || back.String() != c.String() || string(back.PRS()) != c.String() {
			t.Fatalf("Parse(%q) = %q does not round-trip: %v, %v", s, c, back, err)
		}
	})
}
