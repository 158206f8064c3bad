package shortcode

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// pgpWordsSHA256 pins the embedded list, so that an edit to it shows.
const pgpWordsSHA256 = "c10f12d0b146d8a4e684c1990862c20b670854cf517fc825ffeed8fb8e94d1bb"

func TestWordList(t *testing.T) {
	t.Parallel()
	if got := sha256.Sum256([]byte(pgpWords)); hex.EncodeToString(got[:]) != pgpWordsSHA256 {
		t.Errorf("pgpwords.txt SHA-256 %x, want %s", got, pgpWordsSHA256)
	}
	seen := map[string]bool{}
	for _, l := range []*wordList{evenWords, oddWords} {
		if len(l.index) != 256 {
			t.Errorf("%s list has %d distinct words, want 256", l.name, len(l.index))
		}
		for i, w := range l.words {
			if seen[w] {
				t.Errorf("%q is in the list twice", w)
			}
			seen[w] = true
			if w == "" || strings.Trim(w, "abcdefghijklmnopqrstuvwxyz") != "" {
				t.Errorf("word %d %q is not lower-case ASCII letters", i, w)
			}
			if l.index[w] != byte(i) {
				t.Errorf("index of %q is %d, want %d", w, l.index[w], i)
			}
		}
	}
	if len(seen) != 512 {
		t.Errorf("%d distinct words, want 512", len(seen))
	}
	// The first and last lines, as in magic-wormhole's raw_words.
	if evenWords.words[0] != "aardvark" || oddWords.words[0] != "adroitness" || evenWords.words[255] != "zulu" || oddWords.words[255] != "yucatan" {
		t.Errorf("list ends: %s %s ... %s %s", evenWords.words[0], oddWords.words[0], evenWords.words[255], oddWords.words[255])
	}
}

// TestWordListSpelling checks the package doc's claim: of the 512 words,
// one pair is one edit apart (revenge, revenue) and 25 pairs two edits.
func TestWordListSpelling(t *testing.T) {
	t.Parallel()
	all := append(evenWords.words[:], oddWords.words[:]...)
	count := map[int]int{}
	for i, a := range all {
		for _, b := range all[i+1:] {
			if d := editDistance(a, b, 3); d < 3 {
				count[d]++
				if d == 1 && !(a == "revenge" && b == "revenue") {
					t.Errorf("%q and %q are one edit apart", a, b)
				}
			}
		}
	}
	if count[0] != 0 || count[1] != 1 || count[2] != 25 {
		t.Errorf("pairs by edit distance: %v, want 1 at 1 and 25 at 2", count)
	}
}

func TestParseWordListRejectsBadLists(t *testing.T) {
	t.Parallel()
	lines := strings.SplitAfter(pgpWords, "\n")
	for name, text := range map[string]string{
		"short":     strings.Join(lines[:len(lines)-2], ""),
		"duplicate": strings.Replace(pgpWords, "FF Zulu Yucatan", "FF Zulu aardvark", 1),
		"order":     strings.Replace(pgpWords, "FF Zulu", "FE Zulu", 1),
		"fields":    strings.Replace(pgpWords, "FF Zulu Yucatan", "FF Zulu", 1),
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s word list accepted", name)
				}
			}()
			parseWordList(text)
		}()
	}
}

func TestGenerate(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	channels := map[uint16]bool{}
	for range 200 {
		c, err := Generate()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("generated %v: %v", c, err)
		}
		back, err := Parse(c.String())
		if err != nil || back.String() != c.String() {
			t.Fatalf("Parse(%q) = %v, %v", c.String(), back, err)
		}
		seen[c.String()] = true
		channels[c.Channel] = true
	}
	// 200 draws from 2^24 word triples and 999 numbers: a repeat would
	// mean broken randomness (a collision has probability about 2^-9).
	if len(seen) < 199 || len(channels) < 150 {
		t.Fatalf("200 codes gave %d distinct codes and %d distinct numbers", len(seen), len(channels))
	}
}

func TestParseTolerant(t *testing.T) {
	t.Parallel()
	want := "42-adroitness-aardvark-adviser"
	for _, in := range []string{
		want,
		"  42-adroitness-aardvark-adviser \n",
		"42 adroitness aardvark adviser",
		"42 ADROITNESS-Aardvark  adviser",
		"042-adroitness--aardvark-adviser",
		"42\tadroitness - aardvark - adviser",
	} {
		c, err := Parse(in)
		if err != nil {
			t.Errorf("Parse(%q): %v", in, err)
			continue
		}
		if c.String() != want || string(c.PRS()) != want {
			t.Errorf("Parse(%q) = %q, PRS %q; want %q", in, c.String(), c.PRS(), want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"", "empty code"},
		{" - - ", "empty code"},
		{strings.Repeat("a", MaxCodeLength+1), "more than 128"},
		{"adroitness-aardvark-adviser", `must start with its number`},
		{"0-adroitness-aardvark-adviser", "channel number 0 is not between 1 and 999"},
		{"1000-adroitness-aardvark-adviser", `"1000" is not a channel number`},
		{"4x-adroitness-aardvark-adviser", `must start with its number (1 to 999), not "4x"`},
		{"42-adroitness-aardvark", "2 words after the number, want 3"},
		{"42-adroitness-aardvark-adviser-absurd", "4 words after the number, want 3"},
		{"42-adroitnes-aardvark-adviser", `word 1 "adroitnes" is not in the word list; did you mean "adroitness"?`},
		{"42-adroitness-ardvark-adviser", `word 2 "ardvark" is not in the word list; did you mean "aardvark"?`},
		{"42-adroitness-aardvark-zzzzzz", `word 3 "zzzzzz" is not in the word list`},
		{"42-aardvark-adroitness-adviser", `word 1 "aardvark" is a word for position 2, not 1 (words alternate between two lists); were two words swapped?`},
		{"42-adroitness-adviser-adviser", `word 2 "adviser" is a word for position 1 or 3, not 2`},
		{"42-adroitness-revenue-adviser", `did you mean "revenge"?`},
		{"42-adroitness-aardvark-" + strings.Repeat("x", maxWordLength+1), "word 3 is 33 bytes long"},
		// U+212A KELVIN SIGN lower-cases to "k" under Unicode rules: no
		// folding of non-ASCII input into a word.
		{"42-adroitness-\u212aiwi-adviser", "word 2 \"\u212aiwi\" is not in the word list"},
	} {
		_, err := Parse(tc.in)
		if !errors.Is(err, ErrInvalidCode) {
			t.Errorf("Parse(%q): %v, want ErrInvalidCode", tc.in, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q):\n got %v\nwant it to contain %s", tc.in, err, tc.want)
		}
	}
	// A word far from every word gets no suggestion.
	if _, err := Parse("42-adroitness-aardvark-qqqqqqqq"); err == nil || strings.Contains(err.Error(), "did you mean") {
		t.Errorf("far word: %v", err)
	}
}

func TestNearest(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		l    *wordList
		in   string
		want []string
	}{
		{evenWords, "aardvark", []string{"aardvark"}},
		{evenWords, "tigr", []string{"tiger"}},
		{evenWords, "geigr", []string{"geiger"}},
		{evenWords, "xxxxxxx", nil},
		{oddWords, "revenge", []string{"revenue"}},
	} {
		if got := tc.l.nearest(tc.in); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("nearest %s %q = %q, want %q", tc.l.name, tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"abc", "", 3}, {"kitten", "sitting", 3}, {"revenge", "revenue", 1}, {"tiger", "geiger", 2}} {
		if got := editDistance(tc.a, tc.b, 100); got != tc.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.d)
		}
		if got := editDistance(tc.a, tc.b, 1); tc.d >= 1 && got < 1 {
			t.Errorf("editDistance(%q, %q, limit 1) = %d", tc.a, tc.b, got)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	good := Code{Channel: 42, Words: []string{"adroitness", "aardvark", "adviser"}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]Code{
		"zero value":  {},
		"channel 0":   {Channel: 0, Words: good.Words},
		"channel max": {Channel: MaxChannel + 1, Words: good.Words},
		"two words":   {Channel: 42, Words: good.Words[:2]},
		"upper case":  {Channel: 42, Words: []string{"Adroitness", "aardvark", "adviser"}},
		"wrong list":  {Channel: 42, Words: []string{"aardvark", "adroitness", "adviser"}},
	} {
		if err := c.Validate(); !errors.Is(err, ErrInvalidCode) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestLookupRevealsOnlyTheNumber: the lookup value is the same for every
// word triple on one channel, differs between channels, and does not
// contain the words or PRS.
func TestLookupRevealsOnlyTheNumber(t *testing.T) {
	t.Parallel()
	a := Code{Channel: 42, Words: []string{"adroitness", "aardvark", "adviser"}}
	b := Code{Channel: 42, Words: []string{"yucatan", "zulu", "yesteryear"}}
	c := Code{Channel: 43, Words: a.Words}
	if a.Lookup() != b.Lookup() {
		t.Error("lookup depends on the words")
	}
	if a.Lookup() == c.Lookup() {
		t.Error("lookup does not depend on the channel")
	}
	if bytes.Equal(a.PRS(), b.PRS()) || bytes.Equal(a.PRS(), c.PRS()) {
		t.Error("PRS does not cover both the words and the number")
	}
	lookups := map[[LookupSize]byte]uint16{}
	for ch := uint16(MinChannel); ch <= MaxChannel; ch++ {
		l := Code{Channel: ch}.Lookup()
		if prev, dup := lookups[l]; dup {
			t.Fatalf("channels %d and %d share a lookup value", prev, ch)
		}
		lookups[l] = ch
	}
	l := a.Lookup()
	for _, w := range a.Words {
		if bytes.Contains(l[:], []byte(w)) {
			t.Errorf("lookup contains %q", w)
		}
	}
}

func ExampleParse() {
	c, err := Parse(" 42 Adroitness aardvark-ADVISER ")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c)
	_, err = Parse("42-adroitness-ardvark-adviser")
	fmt.Println(err)
	// Output:
	// 42-adroitness-aardvark-adviser
	// shortcode: invalid code: word 2 "ardvark" is not in the word list; did you mean "aardvark"?
}

// TestVectors checks testdata/vectors.json, computed outside Go: each code
// parses to itself, and its PRS and lookup value are the bytes SECURITY.md
// describes.
func TestVectors(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Vectors []struct {
			Code    string `json:"code"`
			Channel uint16 `json:"channel"`
			PRS     string `json:"prs"`
			Lookup  string `json:"lookup"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range file.Vectors {
		c, err := Parse(v.Code)
		if err != nil {
			t.Errorf("%s: %v", v.Code, err)
			continue
		}
		l := c.Lookup()
		if c.String() != v.Code || c.Channel != v.Channel || hex.EncodeToString(c.PRS()) != v.PRS || hex.EncodeToString(l[:]) != v.Lookup {
			t.Errorf("%s: got %q channel %d PRS %x lookup %x", v.Code, c, c.Channel, c.PRS(), l)
		}
	}
}
