package fuzz

import (
	"errors"
	"strings"
	"testing"

	"github.com/sp2p/sp2p/internal/config"
)

// FuzzConfig parses config files: it never panics; errors wrap
// config.ErrSyntax and start with a line number; what it accepts are STUN
// and TURN URLs with the right schemes, without spaces or control
// characters, at most config.MaxServers of them.
func FuzzConfig(f *testing.F) {
	f.Add("# defaults\nstun stun:127.0.0.1:3478\n\nturn turn:127.0.0.1:3479?transport=udp  # relay\nturn-user friends\n")
	f.Add("stun stun:x:1\nstnu stun:y:2\n")
	f.Add("turn-user a\nturn-user b\nturns turns:x\n")
	f.Add("stun  stun:x \t\r\n")
	f.Add(strings.Repeat("stun stun:x\n", config.MaxServers+1))
	f.Fuzz(func(t *testing.T, in string) {
		c, err := config.Parse([]byte(in))
		if err != nil {
			if !errors.Is(err, config.ErrSyntax) {
				t.Fatalf("error without the sentinel: %v", err)
			}
			if n := strings.IndexByte(err.Error(), ':'); n < 1 || strings.Trim(err.Error()[:n], "0123456789") != "" {
				t.Fatalf("error without a line number: %v", err)
			}
			return
		}
		if len(c.STUN)+len(c.TURN) > config.MaxServers {
			t.Fatalf("%d servers", len(c.STUN)+len(c.TURN))
		}
		bad := func(s string) bool {
			return strings.ContainsFunc(s, func(r rune) bool { return r < 0x21 || r == 0x7f })
		}
		for _, u := range c.STUN {
			if !strings.HasPrefix(u, "stun:") || bad(u) {
				t.Fatalf("STUN %q", u)
			}
		}
		for _, u := range c.TURN {
			if !(strings.HasPrefix(u, "turn:") || strings.HasPrefix(u, "turns:")) || bad(u) {
				t.Fatalf("TURN %q", u)
			}
		}
		if bad(c.TURNUser) {
			t.Fatalf("turn-user %q", c.TURNUser)
		}
	})
}
