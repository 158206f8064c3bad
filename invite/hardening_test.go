package invite

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sp2p/sp2p/identity"
)

const identityPointHex = "0100000000000000000000000000000000000000000000000000000000000000"

var smallOrderHex = []string{
	identityPointHex,
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"0000000000000000000000000000000000000000000000000000000000000080",
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // identity, y = p + 1 (non-canonical)
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// With the identity point as inviter or answerer key, the fixed signature
// R = identity, S = 0 verifies under crypto/ed25519 for any token body:
// anyone could sign as that "identity". The decoders refuse weak inviter,
// answerer and recipient keys before looking at the signature.
func TestWeakKeysRejected(t *testing.T) {
	t.Parallel()
	s := newScenario(t, func(p *OfferParams) { p.Recipient = ident(t, 2).ID() })
	weak := mustHex(t, identityPointHex)
	forgery := append(bytes.Clone(weak), make([]byte, 32)...)

	forge := func(raw []byte, ctx identity.Context) []byte {
		out := bytes.Clone(raw)
		copy(out[2:], weak)
		body := out[:len(out)-SignatureSize]
		copy(out[len(body):], forgery)
		msg := append(append([]byte(ctx), 0), body...)
		if !ed25519.Verify(weak, msg, forgery) {
			t.Fatal("the forgery does not verify under crypto/ed25519")
		}
		return out
	}
	if _, err := DecodeOffer(forge(s.offer.Bytes(), identity.ContextOffer)); !errors.Is(err, ErrMalformed) || !errors.Is(err, identity.ErrWeakKey) {
		t.Errorf("offer signed by the identity point: %v", err)
	}
	if _, err := DecodeAnswer(forge(s.answer.Bytes(), identity.ContextAnswer)); !errors.Is(err, ErrMalformed) || !errors.Is(err, identity.ErrWeakKey) {
		t.Errorf("answer signed by the identity point: %v", err)
	}
	// A weak recipient in an offer that its (real) inviter signed.
	for _, h := range smallOrderHex {
		out := bytes.Clone(s.offer.Bytes())
		copy(out[offerFixedSize:], mustHex(t, h))
		body := out[:len(out)-SignatureSize]
		copy(out[len(body):], s.alice.Sign(identity.ContextOffer, body))
		if _, err := DecodeOffer(out); !errors.Is(err, identity.ErrWeakKey) {
			t.Errorf("recipient %s: %v", h, err)
		}
		for _, author := range []struct {
			raw []byte
			dec func([]byte) error
		}{
			{s.offer.Bytes(), func(b []byte) error { _, err := DecodeOffer(b); return err }},
			{s.answer.Bytes(), func(b []byte) error { _, err := DecodeAnswer(b); return err }},
		} {
			b := bytes.Clone(author.raw)
			copy(b[2:], mustHex(t, h))
			if err := author.dec(b); !errors.Is(err, identity.ErrWeakKey) {
				t.Errorf("author key %s: %v", h, err)
			}
		}
	}
	var weakID identity.ID
	copy(weakID[:], weak)
	if _, err := NewOffer(s.alice, OfferParams{Conn: testConn(RoleActPass, "10.0.0.1"), Recipient: weakID}); !errors.Is(err, identity.ErrWeakKey) {
		t.Errorf("NewOffer for a weak recipient: %v", err)
	}
}

// Only ASCII letters are case-folded in token text: characters Unicode
// folds to ASCII letters are refused, by name.
func TestTokenNonASCIIRefused(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil)
	text := s.offer.Text()
	if _, err := ParseOffer(strings.ToLower(text)); err != nil {
		t.Fatalf("lower case: %v", err)
	}
	body := text[len(TextPrefix):]
	replace := func(old byte, with string) string {
		i := strings.IndexByte(body, old)
		if i < 0 {
			t.Fatalf("no %q in the token text", old)
		}
		return TextPrefix + body[:i] + with + body[i+1:]
	}
	cases := map[string]string{
		"\u017fP2P:" + body:    "U+017F", // ſ, which strings.ToUpper makes S
		"sp2p:" + body:         "",       // ASCII is fine
		replace('I', "\u0131"): "U+0131", // ı, which strings.ToUpper makes I
		replace('S', "\u017f"): "U+017F",
		"sp2p:" + strings.Replace(strings.ToLower(body), "k", "\u212a", 1): "U+212A", // Kelvin sign, which folds to k
		"https://example.org/j\u00f6in#" + text:                            "U+00F6",
		"https://example.org/#%C5%BF" + text[1:]:                           "U+017F", // percent-encoded ſ
		text[:20] + "\xff" + text[21:]:                                     "invalid UTF-8",
	}
	for in, want := range cases {
		_, err := ParseOffer(in)
		if want == "" {
			if err != nil {
				t.Errorf("ParseOffer(%.30q): %v", in, err)
			}
			continue
		}
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseOffer(%.30q) = %v, want ErrMalformed naming %s", in, err, want)
		}
	}
	// White space and invisible format characters are still ignored.
	if _, err := ParseOffer(text[:10] + "\u200b\u00ad\u00a0\n" + text[10:]); err != nil {
		t.Errorf("ignored characters: %v", err)
	}
}

// The text input limit counts bytes, before white space is removed:
// 8192 bytes are decoded, 8193 refused, however few characters they are.
func TestBoundariesTextSize(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil)
	text := s.offer.Text()
	at := text + strings.Repeat(" ", MaxTextSize-len(text))
	if _, err := ParseOffer(at); err != nil {
		t.Errorf("8192 bytes: %v", err)
	}
	if _, err := ParseOffer(at + " "); !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "8193 bytes") {
		t.Errorf("8193 bytes: %v", err)
	}
	// Zero-width spaces are 3 bytes each: fewer than 8192 characters, more
	// than 8192 bytes.
	zw := text + strings.Repeat("\u200b", (MaxTextSize-len(text))/3+1)
	if len([]rune(zw)) > MaxTextSize || len(zw) <= MaxTextSize {
		t.Fatal("bad test input")
	}
	if _, err := ParseOffer(zw); !errors.Is(err, ErrLimit) {
		t.Errorf("%d bytes in %d characters: %v", len(zw), len([]rune(zw)), err)
	}
}

// Every time boundary, at the boundary and one second past it: an offer
// created up to 2 minutes after the verifier's now is accepted; an offer
// is expired from created + lifetime on; an answer may be created up to 2
// minutes after the inviter's now and up to 2 minutes before its offer.
func TestBoundariesTime(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil)
	skew, sec := DefaultClockSkew, time.Second
	for _, c := range []struct {
		name string
		now  time.Time
		want error
	}{
		{"created = now + skew", t0.Add(-skew), nil},
		{"created = now + skew + 1s", t0.Add(-skew - sec), ErrNotYetValid},
		{"now = expires - 1s", s.offer.Expires().Add(-sec), nil},
		{"now = expires", s.offer.Expires(), ErrExpired},
	} {
		if err := s.offer.Verify(VerifyOptions{Now: c.now}); !errors.Is(err, c.want) {
			t.Errorf("offer, %s: %v, want %v", c.name, err, c.want)
		}
	}
	now := t0.Add(time.Minute)
	for _, c := range []struct {
		name           string
		created, clock time.Time
		want           error
	}{
		{"answer created = now + skew", now.Add(skew), now, nil},
		{"answer created = now + skew + 1s", now.Add(skew + sec), now, ErrNotYetValid},
		{"answer created = offer created - skew", t0.Add(-skew), now, nil},
		{"answer created = offer created - skew - 1s", t0.Add(-skew - sec), now, ErrMalformed},
		{"now = expires - 1s", t0, s.offer.Expires().Add(-sec), nil},
		{"now = expires", t0, s.offer.Expires(), ErrExpired},
	} {
		a, err := NewAnswer(s.bob, s.offer, AnswerParams{Conn: testConn(RoleActive, "10.1.1.1"), Now: c.created})
		if err != nil {
			t.Fatal(err)
		}
		clock := c.clock
		p := &Pending{Now: func() time.Time { return clock }}
		if err := p.Add(s.offer); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Accept(a, AcceptOptions{}); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}
