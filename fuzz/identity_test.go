package fuzz

import (
	"errors"
	"strings"
	"testing"

	"github.com/sp2p/sp2p/identity"
)

var idErrors = []error{
	identity.ErrIDPrefix, identity.ErrIDLength, identity.ErrIDChecksum, identity.ErrIDCharacter, identity.ErrIDKey,
}

// FuzzParseID parses ID text: it never panics; every error wraps one of
// the ID sentinels; an accepted ID is a usable key (not weak), came from
// at most 256 bytes of ASCII input, and is exactly the input without its
// surrounding white space and with ASCII letters lower-cased.
func FuzzParseID(f *testing.F) {
	s := fuzzSigner.ID().String()
	f.Add(s)
	f.Add(strings.ToUpper(s) + "\n")
	f.Add(s[:10] + "\u017f" + s[11:])
	f.Add(s + strings.Repeat(" ", 300))
	f.Add("sp2p1qyqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq46zsqd") // the identity point
	f.Fuzz(func(t *testing.T, in string) {
		id, err := identity.ParseID(in)
		if err != nil {
			for _, e := range idErrors {
				if errors.Is(err, e) {
					return
				}
			}
			t.Fatalf("error without a sentinel: %v", err)
		}
		if len(in) > 256 {
			t.Fatalf("accepted %d bytes of input", len(in))
		}
		if err := id.Check(); err != nil {
			t.Fatalf("accepted a weak key: %v", err)
		}
		trimmed := strings.TrimSpace(in)
		for i := 0; i < len(trimmed); i++ {
			if trimmed[i] >= 0x80 {
				t.Fatalf("accepted non-ASCII %q", in)
			}
		}
		if id.String() != strings.ToLower(trimmed) {
			t.Fatalf("%q parsed as %s", in, id)
		}
		again, err := identity.ParseID(id.String())
		if err != nil || !again.Equal(id) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
