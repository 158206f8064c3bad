// Package safetext renders text that came from a peer (chat lines, file
// names, names and reasons) for a terminal, so that it cannot inject
// terminal escape sequences, rewrite what is shown with bidirectional
// overrides, or start a line that looks like sp2p's own output.
//
// One rule everywhere: printable characters are shown as they are; C0 and
// C1 control characters and DEL become \xNN; line and paragraph separators
// (U+2028, U+2029) and every invisible format character (Unicode category
// Cf: bidi overrides and isolates such as U+202E, zero-width characters,
// the soft hyphen) become \uNNNN; invalid UTF-8 becomes \ufffd.
package safetext

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Unsafe reports whether r is escaped by Escape and Quote.
func Unsafe(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029 || unicode.Is(unicode.Cf, r)
}

// Escape returns s with every unsafe character escaped (see the package
// documentation). Backslashes are left as they are.
func Escape(s string) string { return render(s, false) }

// Quote returns s in double quotes with every unsafe character escaped,
// and with backslashes and double quotes escaped too, so that the quoted
// form is unambiguous.
func Quote(s string) string { return `"` + render(s, true) + `"` }

func render(s string, quoted bool) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size <= 1:
			b.WriteString(`\ufffd`)
		case quoted && (r == '"' || r == '\\'):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x100 && Unsafe(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case Unsafe(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
