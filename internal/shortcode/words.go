package shortcode

import (
	_ "embed"
	"fmt"
	"strconv"
	"strings"
)

// pgpWords is the PGP word list (Patrick Juola and Philip Zimmermann,
// 1995), as magic-wormhole ships it in src/wormhole/_wordlist.py (commit
// 6fa0e455cc72f7cfa1f7334bdc0729a4851bb60f, MIT licence, Copyright (c) 2015
// Brian Warner; transcribed by Warren Guy). The words are copied unchanged,
// one line per byte value: "XX even odd". The even words have two
// syllables, the odd words three, and no word is in both lists.
//
//go:embed pgpwords.txt
var pgpWords string

// wordList is one of the two halves of the PGP word list.
type wordList struct {
	name  string
	words [256]string // lower case
	index map[string]byte
}

var evenWords, oddWords = parseWordList(pgpWords)

// parseWordList reads the embedded list; it panics if the file is not
// exactly 256 lines "XX even odd" in byte order with 512 distinct words,
// which the tests check too.
func parseWordList(text string) (even, odd *wordList) {
	even = &wordList{name: "even", index: make(map[string]byte, 256)}
	odd = &wordList{name: "odd", index: make(map[string]byte, 256)}
	n := 0
	for line := range strings.Lines(text) {
		line = strings.TrimSuffix(line, "\n")
		if strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			panic(fmt.Sprintf("shortcode: word list line %q", line))
		}
		b, err := strconv.ParseUint(f[0], 16, 8)
		if err != nil || int(b) != n {
			panic(fmt.Sprintf("shortcode: word list line %q out of order", line))
		}
		for i, l := range []*wordList{even, odd} {
			w := strings.ToLower(f[1+i])
			if _, dup := even.index[w]; dup {
				panic("shortcode: duplicate word " + w)
			}
			if _, dup := odd.index[w]; dup {
				panic("shortcode: duplicate word " + w)
			}
			l.words[n] = w
			l.index[w] = byte(n)
		}
		n++
	}
	if n != 256 {
		panic(fmt.Sprintf("shortcode: word list has %d lines, want 256", n))
	}
	return even, odd
}

// listFor returns the list word i (0-based) of a code is drawn from: odd
// words at even indexes (the first, third, ...), even words between, as
// magic-wormhole alternates them.
func listFor(i int) *wordList {
	if i%2 == 0 {
		return oddWords
	}
	return evenWords
}

// maxSuggestDistance is the largest edit distance at which Parse suggests a
// word of the list for an unknown one.
const maxSuggestDistance = 2

// nearest returns the words of l closest to w by edit distance, if the
// closest are within maxSuggestDistance; at most three, in list order.
func (l *wordList) nearest(w string) []string {
	best := maxSuggestDistance + 1
	var out []string
	for _, c := range l.words {
		// Distances up to best are exact; best+1 stands for "farther".
		d := editDistance(w, c, best+1)
		switch {
		case d < best:
			best, out = d, []string{c}
		case d == best && best <= maxSuggestDistance && len(out) < 3:
			out = append(out, c)
		}
	}
	return out
}

// editDistance is the Levenshtein distance between a and b, or any value
// at least limit once it is known to reach limit. Both are short (Parse
// bounds its input), so the quadratic table is small.
func editDistance(a, b string, limit int) int {
	if d := len(a) - len(b); d >= limit || -d >= limit {
		return limit
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= limit {
			return limit
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
