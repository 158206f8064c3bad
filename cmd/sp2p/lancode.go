package main

import (
	"strings"

	"github.com/sp2p/sp2p/discovery"
	"github.com/sp2p/sp2p/internal/shortcode"
)

// newLANCode makes a fresh short code and its discovery key.
func newLANCode() (string, discovery.Key, error) {
	c, err := shortcode.Generate()
	if err != nil {
		return "", discovery.Key{}, err
	}
	k, err := codeKey(c)
	return c.String(), k, err
}

func codeKey(c shortcode.Code) (discovery.Key, error) {
	l := c.Lookup()
	return discovery.CodeKey(c.PRS(), l[:])
}

// lanCodeKey reads a short code typed by the user.
func lanCodeKey(s string) (discovery.Key, error) {
	c, err := shortcode.Parse(s)
	if err != nil {
		return discovery.Key{}, err
	}
	return codeKey(c)
}

// looksLikeCode reports whether an argument is meant as a short code
// rather than a token or a link: it starts with the channel number and a
// hyphen ("42-…"). Parse then says what is wrong with a mistyped one.
func looksLikeCode(s string) bool {
	s = strings.TrimSpace(s)
	i := strings.IndexByte(s, '-')
	if i < 1 || i > 3 {
		return false
	}
	for _, r := range s[:i] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
