//go:build linux

package session

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sp2p/sp2p/internal/sdp"
	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/link"
)

// A (behind a router) and B (a fixed address) connect; while A's link is
// open, A's address is replaced (old one removed, a new one in another
// subnet added, a new default route). Then each side makes its next link
// on its anchor from what it knew (no signalling): A against B's predicted
// description, B against A's, which names only A's old address. They
// connect, from A's new address (B learns it from A's checks): when both
// start together, when either starts 2 s before the other, and when B
// starts only when A's checks knock at its anchor (B's first link still
// open: B had not noticed).
func TestAnchoredLinkAfterAddressChange(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"together", "A first", "B first", "knock"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			addressChange(t, mode)
		})
	}
}

func addressChange(t *testing.T, mode string) {
	l := newNSLab(t, "a", "r", "b")
	l.veth("a", "eth0", "r", "la")
	l.veth("r", "lb", "b", "eth0")
	l.ip("a", "addr", "add", "10.99.1.1/24", "dev", "eth0")
	l.ip("a", "route", "add", "default", "via", "10.99.1.254")
	l.ip("r", "addr", "add", "10.99.1.254/24", "dev", "la")
	l.ip("r", "addr", "add", "10.99.2.254/24", "dev", "lb")
	l.ip("b", "addr", "add", "10.99.2.2/24", "dev", "eth0")
	l.ip("b", "route", "add", "default", "via", "10.99.2.254")
	l.sysctl("r", "net.ipv4.ip_forward=1")

	a, b := l.start("a", "anchorA"), l.start("b", "anchorB")
	b.send("offer %s", a.recv("offer", 20*time.Second))
	a.send("answer %s", b.recv("answer", 20*time.Second))
	pa, pb := a.recv("open", 20*time.Second), b.recv("open", 20*time.Second)
	t.Logf("first links: A %s, B %s", pa, pb)
	if f, g := strings.Fields(pa), strings.Fields(pb); len(f) != 2 || len(g) != 2 || !strings.HasPrefix(f[0], "10.99.1.1:") || !strings.HasPrefix(g[0], "10.99.2.2:") || f[0] != g[1] || f[1] != g[0] {
		t.Fatalf("first path: A %s, B %s", pa, pb)
	}

	l.ip("r", "addr", "add", "10.99.3.254/24", "dev", "la")
	l.ip("a", "addr", "del", "10.99.1.1/24", "dev", "eth0")
	l.ip("a", "addr", "add", "10.99.3.1/24", "dev", "eth0")
	l.ip("a", "route", "replace", "default", "via", "10.99.3.254")

	switch mode {
	case "together":
		b.send("resume")
		a.send("resume")
	case "A first":
		a.send("resume")
		time.Sleep(2 * time.Second)
		b.send("resume")
	case "B first":
		b.send("resume")
		time.Sleep(2 * time.Second)
		a.send("resume")
	case "knock":
		b.send("knock")
		b.recv("waiting", 5*time.Second)
		a.send("resume")
		b.recv("knocked", 10*time.Second)
	}
	ra, rb := a.recv("resumed", 30*time.Second), b.recv("resumed", 30*time.Second)
	t.Logf("%s: second links (ms from making the link to open, local, remote): A %s, B %s", mode, ra, rb)
	fa, fb := strings.Fields(ra), strings.Fields(rb)
	if len(fa) != 3 || len(fb) != 3 || !strings.HasPrefix(fa[1], "10.99.3.1:") || fb[2] != fa[1] || fa[2] != fb[1] || !strings.HasPrefix(fb[1], "10.99.2.2:") {
		t.Fatalf("second path: A %s, B %s", ra, rb)
	}
	if port(pb, 0) != port(rb, 1) {
		t.Errorf("B's port moved: %s, then %s", pb, rb)
	}
}

// port returns the port of the address in field i of a line.
func port(line string, i int) string {
	f := strings.Fields(line)
	if i >= len(f) {
		return ""
	}
	ap, err := netip.ParseAddrPort(f[i])
	if err != nil {
		return ""
	}
	return fmt.Sprint(ap.Port())
}

// sysctl sets a sysctl in namespace n.
func (l *nsLab) sysctl(n, kv string) {
	l.t.Helper()
	out, err := execIn(l.ns(n), "sysctl", "-qw", kv)
	if err != nil {
		l.t.Fatalf("sysctl %s: %v: %s", kv, err, out)
	}
}

func encodeDesc(t testing.TB, d *invite.ConnDesc) string {
	s, err := sdp.ToSDP(d)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString([]byte(s))
}

func decodeDesc(t testing.TB, s string) *invite.ConnDesc {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	d, _, err := sdp.FromSDP(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// anchorChild is one side of TestAnchoredLinkAfterAddressChange, in its
// namespace: A offers, B answers; on "resume" each closes its link and
// makes the next one on the same anchor from its prediction.
func anchorChild(t *testing.T, offerer bool, say func(string, ...any), next func() string) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	opts := Options{UDP4Only: true}
	var anchor link.Anchor
	defer anchor.Close()
	cmd := func(word string) string {
		line := next()
		rest, ok := strings.CutPrefix(line, word+" ")
		if !ok && line != word {
			t.Fatalf("got %q, want %s", line, word)
		}
		return rest
	}
	l1 := newLink(t, opts, link.Config{Anchor: &anchor})
	var offer, answer *invite.ConnDesc
	var err error
	if offerer {
		if offer, err = l1.Offer(ctx); err != nil {
			t.Fatal(err)
		}
		say("offer %s", encodeDesc(t, offer))
		answer = decodeDesc(t, cmd("answer"))
		if err := l1.Apply(answer); err != nil {
			t.Fatal(err)
		}
	} else {
		offer = decodeDesc(t, cmd("offer"))
		if answer, err = l1.Answer(ctx, offer); err != nil {
			t.Fatal(err)
		}
		say("answer %s", encodeDesc(t, answer))
	}
	c1, err := l1.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pingPong(t, c1, offerer)
	p1, _ := c1.(link.PathReporter).PathStats()
	say("open %v %v", p1.Local, p1.Remote)

	if line := next(); line == "knock" {
		// B has not noticed: its first link is open until A's checks
		// for its next link's fragment reach its anchor.
		knocked := make(chan struct{}, 1)
		anchor.SetKnock(resumeUfragB, func() { knocked <- struct{}{} })
		say("waiting")
		select {
		case <-knocked:
		case <-ctx.Done():
			t.Fatal("no knock")
		}
		anchor.SetKnock("", nil)
		say("knocked")
	} else if line != "resume" {
		t.Fatalf("got %q, want resume or knock", line)
	}
	l1.Close()
	start := time.Now()
	var l2 link.Link
	if offerer {
		l2 = newLink(t, opts, link.Config{Anchor: &anchor, ICEUfrag: resumeUfragA, ICEPwd: resumePwdA})
		if _, err := l2.Offer(ctx); err != nil {
			t.Fatal(err)
		}
		if err := l2.Apply(predict(answer, resumeUfragB, resumePwdB, p1.Remote)); err != nil {
			t.Fatal(err)
		}
	} else {
		l2 = newLink(t, opts, link.Config{Anchor: &anchor, ICEUfrag: resumeUfragB, ICEPwd: resumePwdB})
		if _, err := l2.Answer(ctx, predict(offer, resumeUfragA, resumePwdA, p1.Remote)); err != nil {
			t.Fatal(err)
		}
	}
	c2, err := l2.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	pingPong(t, c2, offerer)
	p2, _ := c2.(link.PathReporter).PathStats()
	say("resumed %d %v %v", took.Milliseconds(), p2.Local, p2.Remote)
	next() // until the parent is done: closing now could cut off the pong
	l2.Close()
}

// pingPong: the offerer sends ping, the answerer answers pong.
func pingPong(t *testing.T, c link.Channel, offerer bool) {
	buf := make([]byte, 16)
	read := func(want string) {
		n, err := c.ReadMessage(buf)
		if err != nil || string(buf[:n]) != want {
			t.Fatalf("read %q, %v; want %s", buf[:n], err, want)
		}
	}
	write := func(m string) {
		if err := c.WriteMessage([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	if offerer {
		write("ping")
		read("pong")
	} else {
		read("ping")
		write("pong")
	}
}

// The anchor's sockets get the buffer sizes every link's sockets get
// (tune.go).
func TestAnchorSocketBuffers(t *testing.T) {
	t.Parallel()
	var a link.Anchor
	defer a.Close()
	opts := loopback()
	st, err := pionAnchor(&opts, &a)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4zero})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	untuned := bufSizes(t, plain)
	plain.SetReadBuffer(socketBuffer)
	plain.SetWriteBuffer(socketBuffer)
	want := bufSizes(t, plain)
	if got := bufSizes(t, st.mux.socks[0].UDPConn); got != want {
		t.Fatalf("anchor socket buffers %v, want %v (untuned: %v)", got, want, untuned)
	}
}

func bufSizes(t *testing.T, c *net.UDPConn) (sizes [2]int) {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	raw.Control(func(fd uintptr) {
		if sizes[0], serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF); serr == nil {
			sizes[1], serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF)
		}
	})
	if serr != nil {
		t.Fatal(serr)
	}
	return sizes
}
