package invite

import (
	"encoding/base32"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text form: "SP2P:" followed by the token bytes in unpadded base32 (RFC
// 4648 alphabet, upper case). Every character is in QR's alphanumeric set,
// the whole is one word for chat programs, and it is also the sp2p: URI
// (schemes are case-insensitive).
const (
	TextPrefix = "SP2P:"
	// MaxTextSize bounds the input of Decode in bytes (of UTF-8), before
	// white space is removed: 8192 bytes are read, 8193 are refused.
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
// URL whose fragment holds either. White space and invisible format
// characters anywhere (line breaks inserted by mail or chat programs) are
// ignored. Everything else must be ASCII: only ASCII letters are
// case-folded, and any other character is refused with an error naming it
// (so that no character that Unicode folds to an ASCII letter, such as
// U+017F, U+0131 or U+212A, can stand in for one).
func Decode(s string) (Kind, []byte, error) {
	if len(s) > MaxTextSize {
		return 0, nil, fmt.Errorf("%w: %d bytes of input, at most %d", ErrLimit, len(s), MaxTextSize)
	}
	s = stripInvisible(s)
	if err := checkASCII(s); err != nil {
		return 0, nil, err
	}
	lower := asciiLower(s)
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
		if err := checkASCII(frag); err != nil {
			return 0, nil, err
		}
		s = frag
	case strings.HasPrefix(lower, "http://"):
		return 0, nil, fmt.Errorf("%w: invitation links must use https", ErrMalformed)
	}
	if len(s) >= len(TextPrefix) && asciiUpper(s[:len(TextPrefix)]) == TextPrefix {
		s = s[len(TextPrefix):]
	}
	if s == "" {
		return 0, nil, fmt.Errorf("%w: empty token", ErrMalformed)
	}
	s = asciiUpper(s)
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

// Incomplete reports whether s, which Decode, ParseOffer or ParseAnswer
// refused, is the beginning of a token's text cut short: everything in it
// so far is what a token of this version can start with, so more text
// could complete it. A reader of pasted lines (which mail and chat
// programs wrap) should then read on; for any other refusal (a character
// that is not in a token, a damaged field, another version, a bad
// signature, more than MaxTextSize) more text cannot help. It is false
// for a complete token.
func Incomplete(s string) bool {
	if len(s) > MaxTextSize {
		return false
	}
	s = stripInvisible(s)
	if checkASCII(s) != nil {
		return false
	}
	lower := asciiLower(s)
	switch {
	case len(lower) < len("https://") && strings.HasPrefix("https://", lower):
		return true
	case strings.HasPrefix(lower, "https://"):
		_, frag, ok := strings.Cut(s, "#")
		if !ok {
			return true // the fragment may be on the next line
		}
		if f, err := url.PathUnescape(frag); err == nil {
			frag = f
		}
		if checkASCII(frag) != nil {
			return false
		}
		s = frag
	}
	up := asciiUpper(s)
	if len(up) < len(TextPrefix) && strings.HasPrefix(TextPrefix, up) {
		return true
	}
	up = strings.TrimPrefix(up, TextPrefix)
	// The bytes that the characters so far fix, as the decoder would read
	// them: what a damaged token shows, a cut one does not.
	raw := make([]byte, 0, len(up)*5/8)
	var bits, n uint
	for i := 0; i < len(up); i++ {
		v := strings.IndexByte(base32Alphabet, up[i])
		if v < 0 {
			return false
		}
		bits = bits<<5 | uint(v)
		if n += 5; n >= 8 {
			n -= 8
			raw = append(raw, byte(bits>>n))
			bits &= 1<<n - 1
		}
	}
	if len(raw) == 0 && n > 0 && bits != uint(Version)>>(8-n) {
		return false // the first character already differs from the version's
	}
	return truncatedPrefix(raw)
}

const base32Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// truncatedPrefix reports whether raw could be the first bytes of a
// longer token: the version and kind are right and decoding stops only
// for want of bytes.
func truncatedPrefix(raw []byte) bool {
	switch {
	case len(raw) > MaxTokenSize:
		return false
	case len(raw) >= 1 && raw[0] != Version:
		return false
	case len(raw) >= 2 && Kind(raw[1]) != KindOffer && Kind(raw[1]) != KindAnswer:
		return false
	case len(raw) < 2+SignatureSize:
		return true
	}
	var err error
	if Kind(raw[1]) == KindOffer {
		_, err = DecodeOffer(raw)
	} else {
		_, err = DecodeAnswer(raw)
	}
	var te *truncatedError
	return errors.As(err, &te)
}

// stripInvisible removes white space and invisible format characters
// (Cf: zero-width spaces, soft hyphens), which Decode ignores.
func stripInvisible(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, s)
}

// checkASCII refuses the first non-ASCII character of s, naming it.
func checkASCII(s string) error {
	for i, r := range s {
		if r < utf8.RuneSelf {
			continue
		}
		if r == utf8.RuneError {
			return fmt.Errorf("%w: byte %#02x is not ASCII (invalid UTF-8)", ErrMalformed, s[i])
		}
		return fmt.Errorf("%w: the character %q (U+%04X) is not part of a token (tokens are ASCII)", ErrMalformed, r, r)
	}
	return nil
}

func asciiLower(s string) string { return asciiMap(s, 'A', 'Z', 'a'-'A') }
func asciiUpper(s string) string { return asciiMap(s, 'a', 'z', 'A'-'a') }

func asciiMap(s string, lo, hi byte, delta int) string {
	b := []byte(s)
	for i, c := range b {
		if lo <= c && c <= hi {
			b[i] = byte(int(c) + delta)
		}
	}
	return string(b)
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
