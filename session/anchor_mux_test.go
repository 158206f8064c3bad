//go:build !js

package session

import (
	"context"
	"encoding/hex"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/sp2p/sp2p/link"
)

// The anchor's mux lists the host candidates the options ask for (pion's
// own listing of an unspecified socket has every address, loopback
// included, and ignores the IP filter): no loopback by default, loopback
// too with IncludeLoopback, only loopback with LoopbackOnly, no IPv6 with
// UDP4Only; each at its socket's port, none unspecified.
func TestAnchorMuxListenAddresses(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		opts Options
		lo   string // "no", "also", "only"
	}{
		{"default", Options{}, "no"},
		{"UDP4Only", Options{UDP4Only: true}, "no"},
		{"IncludeLoopback", Options{IncludeLoopback: true}, "also"},
		{"LoopbackOnly", Options{LoopbackOnly: true}, "only"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var a link.Anchor
			defer a.Close()
			st, err := pionAnchor(&c.opts, &a)
			if err != nil {
				t.Fatal(err)
			}
			ports := map[bool]int{}
			for _, s := range st.mux.socks {
				u := s.LocalAddr().(*net.UDPAddr)
				ports[u.IP.To4() != nil] = u.Port
			}
			if _, v6 := ports[false]; v6 == c.opts.UDP4Only {
				t.Errorf("sockets %v", st.mux.ports())
			}
			var loopback, other int
			for _, addr := range st.mux.GetListenAddresses() {
				u := addr.(*net.UDPAddr)
				v4 := u.IP.To4() != nil
				if u.IP.IsUnspecified() || u.Port != ports[v4] || (!v4 && c.opts.UDP4Only) {
					t.Errorf("listen address %v (sockets %v)", u, ports)
				}
				if u.IP.IsLoopback() {
					loopback++
				} else {
					other++
				}
			}
			switch {
			case c.lo == "no" && loopback > 0, c.lo == "only" && other > 0, c.lo != "no" && loopback == 0:
				t.Errorf("%d loopback and %d other addresses", loopback, other)
			}
		})
	}
}

// On pion's virtual network (tests) an anchor keeps the certificate but
// has no sockets of its own: the links' sockets are the vnet's.
func TestAnchorOnTestNetKeepsCertificate(t *testing.T) {
	// Not parallel: pion's vnet numbers MAC addresses in a global it does
	// not lock, so vnets made at once (TestDelayedLinkIntact's) race.
	na, _ := delayedNets(t, 0, 0)
	opts := Options{UDP4Only: true, testNet: na}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var a link.Anchor
	defer a.Close()
	offer := func() []int {
		l := newLink(t, opts, link.Config{Anchor: &a})
		d, err := l.Offer(ctx)
		if err != nil {
			t.Fatal(err)
		}
		l.Close()
		st, err := pionAnchor(&opts, &a)
		if err != nil {
			t.Fatal(err)
		}
		if st.mux != nil || d.Fingerprint != certFingerprint(t, st) {
			t.Fatalf("mux %v, fingerprint %x", st.mux, d.Fingerprint)
		}
		return hostPorts(d)
	}
	if p1, p2 := offer(), offer(); len(p1) == 0 || len(p2) == 0 {
		t.Fatalf("host ports %v, %v", p1, p2)
	}
}

func certFingerprint(t *testing.T, st *anchorState) (fp [32]byte) {
	t.Helper()
	fps, err := st.cert.GetFingerprints()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fps {
		if f.Algorithm == "sha-256" {
			b, err := hex.DecodeString(strings.ReplaceAll(f.Value, ":", ""))
			if err != nil {
				t.Fatal(err)
			}
			copy(fp[:], b)
		}
	}
	return fp
}

// stunUsername reads USERNAME from well-formed binding requests and
// refuses the rest.
func TestStunUsername(t *testing.T) {
	t.Parallel()
	m, err := stun.Build(stun.BindingRequest, stun.TransactionID, stun.NewSoftware("x"), stun.NewUsername("abcd:efgh"), stun.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := stunUsername(m.Raw); !ok || string(u) != "abcd:efgh" {
		t.Fatalf("%q %v", u, ok)
	}
	bad := map[string][]byte{
		"short":     m.Raw[:19],
		"truncated": m.Raw[:len(m.Raw)-4],
		"longer":    append(slices.Clone(m.Raw), 0, 0, 0, 0),
		"cookie":    func() []byte { b := slices.Clone(m.Raw); b[5] ^= 1; return b }(),
		"type":      func() []byte { b := slices.Clone(m.Raw); b[1] = 0x11; return b }(),
		"attr len":  func() []byte { b := slices.Clone(m.Raw); b[stunHeader+3] = 0xff; return b }(),
	}
	long, err := stun.Build(stun.BindingRequest, stun.TransactionID, stun.RawAttribute{Type: stun.AttrUsername, Value: make([]byte, stunMaxUsername+1)})
	if err != nil {
		t.Fatal(err)
	}
	bad["username over 513"] = long.Raw
	for name, p := range bad {
		if u, ok := stunUsername(p); ok {
			t.Errorf("%s: read %q", name, u)
		}
	}
}

func FuzzStunUsername(f *testing.F) {
	m, _ := stun.Build(stun.BindingRequest, stun.TransactionID, stun.NewUsername("abcd:efgh"), stun.Fingerprint)
	f.Add(m.Raw)
	f.Add([]byte{0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42})
	f.Fuzz(func(t *testing.T, p []byte) {
		u, ok := stunUsername(p)
		if !ok {
			return
		}
		if len(u) > stunMaxUsername || len(p) < stunHeader+4+len(u) {
			t.Fatalf("username of %d bytes from a %d-byte message", len(u), len(p))
		}
		var k knocker
		k.anchor = &link.Anchor{}
		k.check(p) // no knock set: nothing happens
	})
}
