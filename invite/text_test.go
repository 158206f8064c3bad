package invite

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestTextForms(t *testing.T) {
	t.Parallel()
	s := newScenario(t, nil)
	text := s.offer.Text()
	if !strings.HasPrefix(text, TextPrefix) {
		t.Fatalf("text form %q", text[:10])
	}
	for _, c := range text {
		if !(c >= 'A' && c <= 'Z' || c >= '2' && c <= '7' || c == ':' || c == 'S' || c == 'P') {
			t.Fatalf("text form has %q, outside QR's alphanumeric set", c)
		}
	}
	link, err := s.offer.Link("https://example.org/join")
	if err != nil {
		t.Fatal(err)
	}
	body := text[len(TextPrefix):]
	wrapped := ""
	for i := 0; i < len(text); i += 60 {
		wrapped += text[i:min(i+60, len(text))] + "\r\n> "[:2]
	}
	variants := map[string]string{
		"text":           text,
		"lower case":     strings.ToLower(text),
		"uri":            "sp2p:" + body,
		"bare":           body,
		"surrounding ws": "\n\t  " + text + "  \n",
		"wrapped":        wrapped,
		"zero-width":     text[:50] + "\u200b" + text[50:100] + "\u00ad" + text[100:],
		"link":           link,
		"link with bare": "https://example.org/#" + body,
		"escaped link":   "https://example.org/join#SP2P%3A" + body,
	}
	for name, v := range variants {
		got, err := ParseOffer(v)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !bytes.Equal(got.Bytes(), s.offer.Bytes()) {
			t.Errorf("%s: different token", name)
		}
	}
	bad := map[string]error{
		"":                                 ErrMalformed,
		"SP2P:":                            ErrMalformed,
		"http://example.org/#" + text:      ErrMalformed,
		"https://example.org/join":         ErrMalformed,
		"SP2P:" + body[:len(body)-1] + "1": ErrMalformed,
		strings.Repeat("A", MaxTextSize+1): ErrLimit,
		s.answer.Text():                    ErrWrongKind,
	}
	for in, want := range bad {
		if _, err := ParseOffer(in); !errors.Is(err, want) {
			t.Errorf("ParseOffer(%.30q): %v, want %v", in, err, want)
		}
	}
	// Non-canonical base32: the last character carries padding bits that
	// must be zero.
	last := body[len(body)-1]
	alt := byte('A')
	if last == 'A' {
		alt = 'B'
	}
	if _, _, err := Decode(body[:len(body)-1] + string(alt)); err == nil {
		// Either non-canonical or a different token: never the same bytes.
		_, raw, _ := Decode(body[:len(body)-1] + string(alt))
		if bytes.Equal(raw, s.offer.Bytes()) {
			t.Fatal("two texts decode to the same token")
		}
	}
	if _, err := s.offer.Link("http://example.org"); err == nil {
		t.Error("http link base accepted")
	}
	if _, err := s.offer.Link("https://example.org/#x"); err == nil {
		t.Error("link base with a fragment accepted")
	}
}
