package shortcode

import (
	"fmt"
	"strings"
)

// maxWordLength bounds one word Parse compares with the list; the longest
// PGP word has 11 letters.
const maxWordLength = 32

// Parse reads a code as a person types it: case does not matter, spaces
// around it are ignored, and the parts may be separated by hyphens, spaces
// or both ("42 Adroitness-aardvark  adviser"). It returns the canonical
// Code, or an error wrapping ErrInvalidCode that says what was wrong: the
// input is empty or longer than MaxCodeLength bytes, the number is not 1 to
// 3 digits between MinChannel and MaxChannel, there are not NumWords words,
// or a word is not in its list (with the nearest words of the list, if some
// are within two edits, or a note that it belongs to the other list).
func Parse(s string) (Code, error) {
	if len(s) > MaxCodeLength {
		return Code{}, fmt.Errorf("%w: %d bytes, more than %d", ErrInvalidCode, len(s), MaxCodeLength)
	}
	parts := strings.FieldsFunc(s, func(r rune) bool {
		return r == '-' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
	})
	if len(parts) == 0 {
		return Code{}, fmt.Errorf("%w: empty code", ErrInvalidCode)
	}
	ch, err := parseChannel(parts[0])
	if err != nil {
		return Code{}, err
	}
	words := parts[1:]
	if len(words) != NumWords {
		return Code{}, fmt.Errorf("%w: %d words after the number, want %d (like %q)", ErrInvalidCode, len(words), NumWords, example)
	}
	c := Code{Channel: ch, Words: make([]string, NumWords)}
	for i, raw := range words {
		w, err := parseWord(i, raw)
		if err != nil {
			return Code{}, err
		}
		c.Words[i] = w
	}
	return c, nil
}

// example is a well-formed code for error messages.
const example = "42-adroitness-aardvark-adviser"

func parseChannel(p string) (uint16, error) {
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return 0, fmt.Errorf("%w: the code must start with its number (%d to %d), not %q", ErrInvalidCode, MinChannel, MaxChannel, p)
		}
		if i == 3 {
			return 0, fmt.Errorf("%w: %q is not a channel number: it must be %d to %d", ErrInvalidCode, p, MinChannel, MaxChannel)
		}
		n = n*10 + int(p[i]-'0')
	}
	if n < MinChannel || n > MaxChannel {
		return 0, fmt.Errorf("%w: channel number %d is not between %d and %d", ErrInvalidCode, n, MinChannel, MaxChannel)
	}
	return uint16(n), nil
}

// parseWord returns the lower-case form of the i-th (0-based) word, or an
// error with a suggestion.
func parseWord(i int, raw string) (string, error) {
	if len(raw) > maxWordLength {
		return "", fmt.Errorf("%w: word %d is %d bytes long; no word of the list is longer than 11 letters", ErrInvalidCode, i+1, len(raw))
	}
	w := asciiLower(raw)
	want, other := listFor(i), listFor(i+1)
	if _, ok := want.index[w]; ok {
		return w, nil
	}
	near := want.nearest(w)
	var msg string
	if _, ok := other.index[w]; ok {
		msg = fmt.Sprintf("%v: word %d %q is a word for position %s, not %d (words alternate between two lists)",
			ErrInvalidCode, i+1, raw, positionsOf(other), i+1)
		if len(near) == 0 {
			msg += "; were two words swapped?"
		}
	} else {
		msg = fmt.Sprintf("%v: word %d %q is not in the word list", ErrInvalidCode, i+1, raw)
	}
	if len(near) > 0 {
		msg += "; did you mean " + quoteOr(near) + "?"
	}
	return "", &parseError{msg: msg}
}

// positionsOf names the 1-based word positions l is used at, "2" or "1 or 3".
func positionsOf(l *wordList) string {
	var ps []string
	for i := range NumWords {
		if listFor(i) == l {
			ps = append(ps, fmt.Sprint(i+1))
		}
	}
	return strings.Join(ps, " or ")
}

func quoteOr(ws []string) string {
	q := make([]string, len(ws))
	for i, w := range ws {
		q[i] = fmt.Sprintf("%q", w)
	}
	return strings.Join(q, " or ")
}

// asciiLower lower-cases ASCII letters only, so that no non-ASCII input
// folds into a word of the list.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// parseError carries a message built around ErrInvalidCode, which it
// unwraps to.
type parseError struct{ msg string }

func (e *parseError) Error() string { return e.msg }
func (e *parseError) Unwrap() error { return ErrInvalidCode }
