//go:build linux

package main

import (
	"bytes"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/internal/shortcode"
)

// captured is one discovery packet seen on the bridge.
type captured struct {
	src, dst netip.AddrPort
	payload  []byte
}

// record captures, from the bridge's namespace (every port of the LAN
// switch, like a mirror port: more than a stranger on the LAN sees), every
// UDP payload that starts with the discovery magic, until stop.
func (l *lanLab) record() (stop func() []captured) {
	t := l.t
	t.Helper()
	fdc := make(chan int, 1)
	errc := make(chan error, 1)
	go func() {
		// The thread enters the bridge's namespace and is never given
		// back (it ends with this goroutine); the socket stays there.
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + l.ns("br"))
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		proto := int(uint16(unix.ETH_P_ALL)<<8 | uint16(unix.ETH_P_ALL)>>8)
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, proto)
		if err != nil {
			errc <- err
			return
		}
		fdc <- fd
	}()
	var fd int
	select {
	case fd = <-fdc:
	case err := <-errc:
		t.Fatalf("recording on the bridge: %v", err)
	}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 100_000})
	var mu sync.Mutex
	var got []captured
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		buf := make([]byte, 65536)
		for {
			select {
			case <-done:
				return
			default:
			}
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil || n < 14+20+8 {
				continue
			}
			if c, ok := parseUDP(buf[:n]); ok && bytes.HasPrefix(c.payload, []byte("sp2l")) {
				mu.Lock()
				got = append(got, c)
				mu.Unlock()
			}
		}
	}()
	return func() []captured {
		close(done)
		<-ended
		unix.Close(fd)
		mu.Lock()
		defer mu.Unlock()
		return got
	}
}

// parseUDP reads an Ethernet frame holding an IPv4 or IPv6 UDP datagram.
func parseUDP(f []byte) (captured, bool) {
	var src, dst netip.Addr
	var udp []byte
	switch binary.BigEndian.Uint16(f[12:]) {
	case 0x0800:
		ip := f[14:]
		ihl := int(ip[0]&0x0f) * 4
		if ip[9] != 17 || len(ip) < ihl+8 {
			return captured{}, false
		}
		src, _ = netip.AddrFromSlice(ip[12:16])
		dst, _ = netip.AddrFromSlice(ip[16:20])
		udp = ip[ihl:min(len(ip), int(binary.BigEndian.Uint16(ip[2:])))]
	case 0x86dd:
		ip := f[14:]
		if len(ip) < 48 || ip[6] != 17 {
			return captured{}, false
		}
		src, _ = netip.AddrFromSlice(ip[8:24])
		dst, _ = netip.AddrFromSlice(ip[24:40])
		udp = ip[40:min(len(ip), 40+int(binary.BigEndian.Uint16(ip[4:])))]
	default:
		return captured{}, false
	}
	if len(udp) < 8 {
		return captured{}, false
	}
	return captured{
		src:     netip.AddrPortFrom(src, binary.BigEndian.Uint16(udp)),
		dst:     netip.AddrPortFrom(dst, binary.BigEndian.Uint16(udp[2:])),
		payload: append([]byte(nil), udp[8:]...),
	}, true
}

// forms are the encodings of an identity that must not appear in any
// discovery packet: the raw key (and each 8-byte piece of it), hex, base32,
// base64 (std, URL, unpadded) of the key, the ID as the CLI shows it, and
// the fingerprint (with and without spaces); text forms in both cases and
// in 12-character pieces.
func forms(t *testing.T, who idInfo) (raw [][]byte, text []string) {
	id, err := identity.ParseID(who.ID)
	if err != nil {
		t.Fatal(err)
	}
	key := id[:]
	for i := 0; i+8 <= len(key); i++ {
		raw = append(raw, key[i:i+8])
	}
	whole := []string{
		hex.EncodeToString(key), base32.StdEncoding.EncodeToString(key), base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(key),
		base64.StdEncoding.EncodeToString(key), base64.URLEncoding.EncodeToString(key), base64.RawStdEncoding.EncodeToString(key), base64.RawURLEncoding.EncodeToString(key),
		who.ID, strings.TrimPrefix(who.ID, "sp2p1"), who.Fingerprint, strings.ReplaceAll(who.Fingerprint, " ", ""),
	}
	for _, w := range whole {
		for _, c := range []string{strings.ToLower(w), strings.ToUpper(w)} {
			for i := 0; i+12 <= len(c); i += 4 {
				text = append(text, c[i:i+12])
			}
		}
	}
	return raw, text
}

// (2) A stranger with a mirror of every port records every discovery
// packet of a known-peer exchange: none holds either identity in any
// encoding, and two beacons of Alice in different epochs share no field,
// not even the UDP source port (only her IP and MAC addresses link them).
func TestNetnsLANStrangerLearnsNothing(t *testing.T) {
	t.Parallel()
	l := newLANLab(t)
	homeA, homeB, a, b := l.pairedHomes()
	stop := l.record()
	src := filepath.Join(t.TempDir(), "secret-plans.txt")
	os.WriteFile(src, []byte("nothing to see\n"), 0o644)
	epoch := []string{"SP2P_LAN_EPOCH=1"}
	s := l.start("alice", homeA, epoch, "send", "--to", "bob", "--yes", src)
	time.Sleep(3500 * time.Millisecond) // beacons in several epochs before Bob looks
	r := l.start("bob", homeB, epoch, "receive", "--from", "alice", "--yes", "--out", t.TempDir())
	cs, cr := s.wait(t, 60*time.Second), r.wait(t, 60*time.Second)
	pkts := stop()
	if cs != 0 || cr != 0 {
		t.Fatalf("exit %d/%d\nsender:\n%s\nreceiver:\n%s", cs, cr, s.err.String(), r.err.String())
	}
	types := map[byte]int{}
	for _, p := range pkts {
		types[p.payload[5]]++
	}
	fams := map[bool]int{}
	for _, p := range pkts {
		fams[p.src.Addr().Is4()]++
	}
	t.Logf("recorded %d discovery packets, by type %v (IPv4 %d, IPv6 %d)", len(pkts), types, fams[true], fams[false])
	if fams[true] == 0 || fams[false] == 0 {
		t.Fatalf("not both families recorded: IPv4 %d, IPv6 %d", fams[true], fams[false])
	}
	for _, typ := range []byte{1, 2, 3, 4, 5, 6} { // beacon, probe, fetch, offer, answer, ack
		if types[typ] == 0 {
			t.Fatalf("no packet of type %d was recorded: the recording is not complete", typ)
		}
	}
	for _, who := range []idInfo{a, b} {
		raw, text := forms(t, who)
		for _, p := range pkts {
			for _, r := range raw {
				if bytes.Contains(p.payload, r) {
					t.Fatalf("a type %d packet from %v holds part of %s's key", p.payload[5], p.src, who.ID)
				}
			}
			up, low := strings.ToUpper(string(p.payload)), strings.ToLower(string(p.payload))
			for _, w := range text {
				if strings.Contains(up, w) || strings.Contains(low, w) {
					t.Fatalf("a type %d packet from %v holds %q, from %s's identity", p.payload[5], p.src, w, who.ID)
				}
			}
		}
	}
	// Alice's beacons: in different epochs, no field in common, and no
	// 4 bytes of one beacon's nonce and tag in another's.
	aliceV6 := l.linkLocal("alice")
	var beacons [][]byte
	port := map[string]map[uint16]bool{} // the UDP source ports of each beacon
	for _, p := range pkts {
		if p.payload[5] == 1 && (p.src.Addr() == netip.MustParseAddr("10.78.0.1") || p.src.Addr() == aliceV6) {
			if port[string(p.payload)] == nil {
				port[string(p.payload)] = map[uint16]bool{}
				beacons = append(beacons, p.payload)
			}
			port[string(p.payload)][p.src.Port()] = true
		}
	}
	epochs := map[uint32]bool{}
	for _, x := range beacons {
		epochs[binary.BigEndian.Uint32(x[6:])] = true
	}
	if len(epochs) < 2 {
		t.Fatalf("alice's beacons are all in one epoch (%d beacons)", len(beacons))
	}
	for i, x := range beacons {
		for _, y := range beacons[i+1:] {
			ex, ey := binary.BigEndian.Uint32(x[6:]), binary.BigEndian.Uint32(y[6:])
			if ex == ey {
				continue
			}
			for p := range port[string(x)] {
				if port[string(y)][p] {
					t.Fatalf("two beacons of alice in epochs %d and %d come from the same UDP port %d", ex, ey, p)
				}
			}
			if bytes.Equal(x[10:26], y[10:26]) || bytes.Equal(x[26:42], y[26:42]) {
				t.Fatal("two beacons of alice share a nonce or a tag")
			}
			for k := 10; k+4 <= 42; k++ {
				if bytes.Contains(y[10:42], x[k:k+4]) {
					t.Fatalf("two beacons of alice share the bytes %x", x[k:k+4])
				}
			}
		}
	}
	t.Logf("%d beacons of alice in %d epochs: no field in common, not even the UDP source port", len(beacons), len(epochs))
}

// waitCode waits for the sender to print its short code.
func waitCode(t *testing.T, c *cli) string {
	t.Helper()
	var code string
	waitFor(t, "the short code", func() bool {
		for _, line := range strings.Split(c.err.String(), "\n") {
			if _, after, ok := strings.Cut(line, "short code (on this LAN, one try): "); ok {
				code = strings.TrimSpace(after)
			}
		}
		return code != ""
	})
	return code
}

// otherWords is code with other words at every position (valid ones, from
// a fresh code), the same channel: a wrong guess.
func otherWords(t *testing.T, code string) string {
	c, err := shortcode.Parse(code)
	if err != nil {
		t.Fatal(err)
	}
	for {
		g, _ := shortcode.Generate()
		differ := true
		for i := range g.Words {
			differ = differ && g.Words[i] != c.Words[i]
		}
		if differ {
			g.Channel = c.Channel
			return g.String()
		}
	}
}

// (3) Short codes: Bob receives with the code and sees Alice's ID, with
// the option to pin (and after pinning, the next time needs no code); the
// code cannot be used again; a stranger's wrong guess fails, the sender is
// told, and the code is used up.
func TestNetnsLANShortCode(t *testing.T) {
	t.Parallel()
	l := newLANLab(t)
	homeA, homeB, homeE := newHome(t), newHome(t), newHome(t)
	a, b := readID(t, homeA), readID(t, homeB)
	src := filepath.Join(t.TempDir(), "hello.txt")
	os.WriteFile(src, []byte("first contact by code\n"), 0o644)
	out := t.TempDir()
	s := l.start("alice", homeA, nil, "send", "--yes", "--save-peer", "bob", src)
	code := waitCode(t, s)
	if !strings.Contains(s.out.String(), "SP2P:") {
		t.Error("no token next to the code")
	}
	r := l.start("bob", homeB, nil, "receive", "--yes", "--save-peer", "alice", "--out", out, code)
	cs, cr := s.wait(t, 60*time.Second), r.wait(t, 60*time.Second)
	if cs != 0 || cr != 0 {
		t.Fatalf("exit %d/%d\nsender:\n%s\nreceiver:\n%s", cs, cr, s.err.String(), r.err.String())
	}
	if got, _ := os.ReadFile(filepath.Join(out, "hello.txt")); string(got) != "first contact by code\n" {
		t.Fatalf("received %q", got)
	}
	if !strings.Contains(r.err.String(), a.ID) || !strings.Contains(r.err.String(), a.Fingerprint) || !strings.Contains(s.err.String(), b.ID) {
		t.Fatalf("the two do not see each other's IDs:\nsender:\n%s\nreceiver:\n%s", s.err.String(), r.err.String())
	}
	// Used once: nobody answers it again.
	e := l.start("eve", homeE, nil, "receive", "--yes", "--out", t.TempDir(), code)
	time.Sleep(4 * time.Second)
	if strings.Contains(e.err.String(), "found it") {
		t.Fatalf("a used code found an invitation:\n%s", e.err.String())
	}
	e.cmd.Process.Kill()
	// Pinned after the code: the next time, nothing to paste and no code.
	src2 := filepath.Join(t.TempDir(), "again.txt")
	os.WriteFile(src2, []byte("now as known peers\n"), 0o644)
	s = l.start("alice", homeA, nil, "send", "--to", "bob", "--yes", src2)
	r = l.start("bob", homeB, nil, "receive", "--from", "alice", "--yes", "--out", out)
	if cs, cr := s.wait(t, 60*time.Second), r.wait(t, 60*time.Second); cs != 0 || cr != 0 {
		t.Fatalf("as known peers: exit %d/%d\nsender:\n%s\nreceiver:\n%s", cs, cr, s.err.String(), r.err.String())
	}
	// A stranger's wrong guess: it fails, Alice is told, the code is gone.
	s = l.start("alice", homeA, nil, "send", "--yes", src)
	code = waitCode(t, s)
	e = l.start("eve", homeE, nil, "receive", "--yes", "--out", t.TempDir(), otherWords(t, code))
	if c := e.wait(t, 30*time.Second); c == 0 {
		t.Fatalf("a wrong code succeeded:\n%s", e.err.String())
	}
	if !strings.Contains(e.err.String(), "wrong code") {
		t.Errorf("the guesser is not told the code was wrong:\n%s", e.err.String())
	}
	waitFor(t, "alice to be told", func() bool {
		return strings.Contains(s.err.String(), "someone tried a wrong code; the code is used up")
	})
	r = l.start("bob", homeB, nil, "receive", "--yes", "--out", t.TempDir(), code)
	time.Sleep(4 * time.Second)
	if strings.Contains(r.err.String(), "found it") {
		t.Fatalf("the right code worked after a wrong guess:\n%s", r.err.String())
	}
	r.cmd.Process.Kill()
	s.cmd.Process.Kill()
}

// linkLocal is the IPv6 link-local address of host's eth0.
func (l *lanLab) linkLocal(host string) netip.Addr {
	l.t.Helper()
	out, err := exec.Command("ip", "netns", "exec", l.ns(host), "ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "link").Output()
	if err != nil {
		l.t.Fatal(err)
	}
	f := strings.Fields(string(out))
	for i, w := range f {
		if w == "inet6" && i+1 < len(f) {
			if p, err := netip.ParsePrefix(f[i+1]); err == nil {
				return p.Addr()
			}
		}
	}
	l.t.Fatalf("no link-local address on %s:\n%s", host, out)
	return netip.Addr{}
}

// --no-lan: no short code, and not one discovery packet on the LAN.
func TestNetnsLANOff(t *testing.T) {
	t.Parallel()
	l := newLANLab(t)
	home := newHome(t)
	stop := l.record()
	src := filepath.Join(t.TempDir(), "x.txt")
	os.WriteFile(src, []byte("x"), 0o644)
	s := l.start("alice", home, nil, "send", "--no-lan", "--yes", src)
	waitFor(t, "the token", func() bool { return strings.Contains(s.out.String(), "SP2P:") })
	time.Sleep(3 * time.Second)
	pkts := stop()
	s.cmd.Process.Kill()
	if len(pkts) != 0 || strings.Contains(s.err.String(), "short code") {
		t.Fatalf("with --no-lan: %d discovery packets recorded\n%s", len(pkts), s.err.String())
	}
}
