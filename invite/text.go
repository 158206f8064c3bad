package invite

import (
	"encoding/base32"
	"fmt"
	"net/url"
	"strings"
	"unicode"
)

// Text form: "SP2P:" followed by the token bytes in unpadded base32 (RFC
// 4648 alphabet, upper case). Every character is in QR's alphanumeric set,
// the whole is one word for chat programs, and it is also the sp2p: URI
// (schemes are case-insensitive).
const (
	TextPrefix = "SP2P:"
	// MaxTextSize bounds the input of Parse, before white space is removed.
	MaxTextSize = 8192
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// Text returns the offer's text form.
func (o *Offer) Text() string { return TextPrefix + b32.EncodeToString(o.raw) }

// Text returns the answer's text form.
func (a *Answer) Text() string { return TextPrefix + b32.EncodeToString(a.raw) }

// Link returns an https link that carries the offer in its fragment, which
// browsers never send to the server: base + "#" + Text(). base must be an
// https URL without a fragment.
func (o *Offer) Link(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Fragment != "" || strings.Contains(base, "#") {
		return "", fmt.Errorf("invite: link base %q must be an https URL without a fragment", base)
	}
	return base + "#" + o.Text(), nil
}

// Decode turns what a user pasted into token bytes and their kind. It
// accepts the text form ("SP2P:…", any case), the bare base32, and an https
// URL whose fragment holds either. White space and invisible characters
// anywhere (line breaks inserted by mail or chat programs) are ignored.
func Decode(s string) (Kind, []byte, error) {
	if len(s) > MaxTextSize {
		return 0, nil, fmt.Errorf("%w: %d characters of input, at most %d", ErrLimit, len(s), MaxTextSize)
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) { // Cf: zero-width and soft hyphen
			return -1
		}
		return r
	}, s)
	lower := strings.ToLower(s)
	switch {
	case strings.HasPrefix(lower, "https://"):
		_, frag, ok := strings.Cut(s, "#")
		if !ok || frag == "" {
			return 0, nil, fmt.Errorf("%w: the link has no token after '#'", ErrMalformed)
		}
		// Some programs percent-encode the fragment's ':'.
		if f, err := url.PathUnescape(frag); err == nil {
			frag = f
		}
		s = frag
	case strings.HasPrefix(lower, "http://"):
		return 0, nil, fmt.Errorf("%w: invitation links must use https", ErrMalformed)
	}
	if len(s) >= len(TextPrefix) && strings.EqualFold(s[:len(TextPrefix)], TextPrefix) {
		s = s[len(TextPrefix):]
	}
	if s == "" {
		return 0, nil, fmt.Errorf("%w: empty token", ErrMalformed)
	}
	s = strings.ToUpper(s)
	raw, err := b32.DecodeString(s)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: not a token (bad character or length in the text)", ErrMalformed)
	}
	if b32.EncodeToString(raw) != s {
		return 0, nil, fmt.Errorf("%w: non-canonical text encoding", ErrMalformed)
	}
	if len(raw) < 2 {
		return 0, nil, fmt.Errorf("%w: token too short", ErrMalformed)
	}
	return Kind(raw[1]), raw, nil
}

// ParseOffer decodes a pasted offer (text, URI or link) and checks its
// signature. Use Offer.Verify for the time, recipient and pinning checks.
func ParseOffer(s string) (*Offer, error) {
	_, raw, err := Decode(s)
	if err != nil {
		return nil, err
	}
	return DecodeOffer(raw)
}

// ParseAnswer decodes a pasted answer and checks its signature. Use
// Pending.Accept to check that it answers a pending offer.
func ParseAnswer(s string) (*Answer, error) {
	_, raw, err := Decode(s)
	if err != nil {
		return nil, err
	}
	return DecodeAnswer(raw)
}
