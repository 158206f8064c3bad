package identity

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func fixedIdentity(t testing.TB, b byte) *Identity {
	t.Helper()
	id, err := FromSeed(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestIDRoundTrip(t *testing.T) {
	t.Parallel()
	for range 50 {
		ident, err := Generate()
		if err != nil {
			t.Fatal(err)
		}
		s := ident.ID().String()
		if len(s) != IDLength || !strings.HasPrefix(s, IDPrefix) {
			t.Fatalf("ID %q: length %d, want %d with prefix %q", s, len(s), IDLength, IDPrefix)
		}
		for _, variant := range []string{s, strings.ToUpper(s), "  " + s + "\n", mixCase(s)} {
			got, err := ParseID(variant)
			if err != nil {
				t.Fatalf("ParseID(%q): %v", variant, err)
			}
			if got != ident.ID() {
				t.Fatalf("ParseID(%q) = %s, want %s", variant, got, ident.ID())
			}
		}
	}
}

func mixCase(s string) string {
	b := []byte(s)
	for i := 0; i < len(b); i += 2 {
		if b[i] >= 'a' && b[i] <= 'z' {
			b[i] -= 'a' - 'A'
		}
	}
	return string(b)
}

// TestIDKnownAnswer pins the text form of a fixed key so that a change of
// encoding cannot pass unnoticed (the value is quoted in SECURITY.md).
func TestIDKnownAnswer(t *testing.T) {
	t.Parallel()
	id := fixedIdentity(t, 0x01).ID()
	const want = "sp2p132yw8ht5p8cetl2jmvknewjawt9xwzdlrk2pyxlnwjyqrdq0dawq9xslnl"
	if id.String() != want {
		t.Errorf("ID of seed 01..01 = %s, want %s", id, want)
	}
	const wantFP = "63830 72754 71297 81849 05244 42201"
	if fp := id.Fingerprint(); fp != wantFP {
		t.Errorf("fingerprint = %q, want %q", fp, wantFP)
	}
}

// Every single-character substitution (with any character a person could
// type in its place) and every swap of two different neighbouring characters
// is rejected, exhaustively over the positions of several IDs.
func TestIDTyposRejected(t *testing.T) {
	t.Parallel()
	alphabet := "abcdefghijklmnopqrstuvwxyz0123456789-_. "
	for k := range 8 {
		s := fixedIdentity(t, byte(k*31+7)).ID().String()
		for i := 0; i < len(s); i++ {
			for _, c := range []byte(alphabet) {
				if c == s[i] {
					continue
				}
				typo := s[:i] + string(c) + s[i+1:]
				if _, err := ParseID(typo); err == nil {
					t.Fatalf("substitution at %d (%q->%q) accepted: %s", i, s[i], c, typo)
				}
			}
		}
		for i := 0; i+1 < len(s); i++ {
			if s[i] == s[i+1] {
				continue
			}
			b := []byte(s)
			b[i], b[i+1] = b[i+1], b[i]
			if _, err := ParseID(string(b)); err == nil {
				t.Fatalf("swap at %d accepted: %s", i, b)
			}
		}
	}
}

func TestParseIDErrors(t *testing.T) {
	t.Parallel()
	s := fixedIdentity(t, 0x42).ID().String()
	typo := []byte(s)
	// Substitute a data character with another character of the alphabet.
	if typo[20] == 'q' {
		typo[20] = 'p'
	} else {
		typo[20] = 'q'
	}
	cases := []struct {
		in   string
		want error
		msg  string
	}{
		{string(typo), ErrIDChecksum, "bad checksum"},
		{"age1" + s[5:], ErrIDPrefix, "wrong prefix"},
		{"", ErrIDPrefix, "wrong prefix"},
		{s[:len(s)-1], ErrIDLength, "wrong length"},
		{s + "q", ErrIDLength, "wrong length"},
		{strings.Repeat("x", 10000), ErrIDLength, "wrong length"},
		{s[:10] + "b" + s[11:], ErrIDCharacter, "alphabet"},
		{ID{}.String(), ErrIDKey, "ed25519"},
	}
	for _, c := range cases {
		_, err := ParseID(c.in)
		if !errors.Is(err, c.want) {
			t.Errorf("ParseID(%.40q) = %v, want %v", c.in, err, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.msg) {
			t.Errorf("ParseID(%.40q) error %q does not say %q", c.in, err, c.msg)
		}
	}
}

func TestFingerprintFormat(t *testing.T) {
	t.Parallel()
	a, b := fixedIdentity(t, 1).ID(), fixedIdentity(t, 2).ID()
	fa := a.Fingerprint()
	if len(fa) != 6*5+5 {
		t.Fatalf("fingerprint %q has length %d", fa, len(fa))
	}
	for i, c := range fa {
		if (i+1)%6 == 0 {
			if c != ' ' {
				t.Fatalf("fingerprint %q: want a space at %d", fa, i)
			}
		} else if c < '0' || c > '9' {
			t.Fatalf("fingerprint %q: not a digit at %d", fa, i)
		}
	}
	if fa == b.Fingerprint() {
		t.Fatal("different IDs have the same fingerprint")
	}
}

func TestSignatureContexts(t *testing.T) {
	t.Parallel()
	ident := fixedIdentity(t, 3)
	msg := []byte("hello")
	contexts := []Context{ContextOffer, ContextAnswer, Context("sp2p v1 offer"), Context("sp2p v1 answer"), Context("sp2p v1 test")}
	for _, signCtx := range contexts {
		sig := ident.Sign(signCtx, msg)
		for _, verifyCtx := range contexts {
			err := ident.ID().Verify(verifyCtx, msg, sig)
			if signCtx == verifyCtx && err != nil {
				t.Errorf("signature for %q does not verify: %v", signCtx, err)
			}
			if signCtx != verifyCtx && !errors.Is(err, ErrBadSignature) {
				t.Errorf("signature for %q verified under %q: %v", signCtx, verifyCtx, err)
			}
		}
		// A context that is a prefix of another, with the message shifted to
		// make up the bytes, does not verify either: the zero byte separates.
		if err := ident.ID().Verify(signCtx[:len(signCtx)-1], append([]byte(signCtx[len(signCtx)-1:]), msg...), sig); err == nil {
			t.Errorf("shifted context/message boundary verified for %q", signCtx)
		}
		if err := fixedIdentity(t, 4).ID().Verify(signCtx, msg, sig); !errors.Is(err, ErrBadSignature) {
			t.Errorf("signature verified under another key: %v", err)
		}
		if err := ident.ID().Verify(signCtx, []byte("hellO"), sig); !errors.Is(err, ErrBadSignature) {
			t.Errorf("signature verified over another message: %v", err)
		}
		if err := ident.ID().Verify(signCtx, msg, sig[:63]); !errors.Is(err, ErrBadSignature) {
			t.Errorf("short signature: %v", err)
		}
	}
}

func TestSignEmptyContextPanics(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Fatal("Sign with an empty context did not panic")
		}
	}()
	fixedIdentity(t, 5).Sign("", []byte("x"))
}
