//go:build linux

package session

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync/atomic"
	"testing"
	"time"

	pionnet "github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
)

// In a namespace of its own, the network watch calls its subscribers when
// an address is added or removed, not when an interface's flags change,
// an address is announced again or a link-local one appears; a stopped
// subscriber is not called, and the detector is closed with the last.
func TestNetwatchCallsOnRealChanges(t *testing.T) {
	t.Parallel()
	l := newNSLab(t, "nw")
	l.veth("nw", "v0", "nw", "v1")
	c := l.start("nw", "netwatch")
	c.recv("ready", 10*time.Second)
	var checks uint64
	counts := func() (n1, n2 int, ch uint64) {
		t.Helper()
		c.send("count")
		if _, err := fmt.Sscan(c.recv("count", 5*time.Second), &n1, &n2, &ch); err != nil {
			t.Fatal(err)
		}
		return n1, n2, ch
	}
	// want waits for the calls to reach n1, n2 and checks that they stay.
	want := func(w1, w2 int, what string) {
		t.Helper()
		var n1, n2 int
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if n1, n2, checks = counts(); n1 >= w1 && n2 >= w2 {
				break
			}
		}
		time.Sleep(300 * time.Millisecond) // a call too many would come now
		if n1, n2, checks = counts(); n1 != w1 || n2 != w2 {
			t.Fatalf("after %s: subscribers called %d and %d times, want %d and %d", what, n1, n2, w1, w2)
		}
	}
	l.ip("nw", "addr", "add", "10.77.0.1/24", "dev", "v0")
	want(1, 1, "an address added")
	before := checks
	l.ip("nw", "link", "set", "v0", "mtu", "1400")
	l.ip("nw", "link", "set", "v0", "multicast", "off")
	l.ip("nw", "addr", "replace", "10.77.0.1/24", "dev", "v0")
	l.ip("nw", "addr", "add", "fe80::77/64", "dev", "v0")
	l.ip("nw", "addr", "add", "10.77.1.1/24", "dev", "lo")
	want(1, 1, "flags, an address announced again, a link-local and a loopback address")
	if checks == before {
		t.Fatal("the detector saw none of those changes: the test shows nothing")
	}
	l.ip("nw", "addr", "del", "10.77.0.1/24", "dev", "v0")
	want(2, 2, "an address removed")
	l.ip("nw", "addr", "add", "fd77::1/64", "dev", "v0", "nodad")
	want(3, 3, "an IPv6 address added")

	c.send("stop1")
	if st := c.recv("state", 5*time.Second); st != "1 true" {
		t.Fatalf("after one of two stops: %s", st)
	}
	l.ip("nw", "addr", "add", "10.77.0.2/24", "dev", "v0")
	want(3, 4, "an address added after the first subscriber stopped")
	c.send("stop2")
	if st := c.recv("state", 10*time.Second); st != "0 false closed" {
		t.Fatalf("after the last stop: %s", st)
	}
}

// netwatchChild subscribes twice and answers the parent's commands.
func netwatchChild(t *testing.T, say func(string, ...any), next func() string) {
	var n1, n2 atomic.Int32
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	_, _, checks0, closed0 := netWatchState()
	stop1 := watchNetwork(log, func() { n1.Add(1) })
	stop2 := watchNetwork(log, func() { n2.Add(1) })
	defer stop1()
	defer stop2()
	// Ready once the detector has read the addresses as they are.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, _, c, _ := netWatchState(); c > checks0 {
			break
		}
	}
	say("ready")
	for {
		switch cmd := next(); cmd {
		case "":
			return
		case "count":
			_, _, c, _ := netWatchState()
			say("count %d %d %d", n1.Load(), n2.Load(), c)
		case "stop1":
			stop1()
			subs, running, _, _ := netWatchState()
			say("state %d %v", subs, running)
		case "stop2":
			stop2()
			var closed uint64
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				if _, _, _, closed = netWatchState(); closed > closed0 {
					break
				}
			}
			subs, running, _, _ := netWatchState()
			state := "open"
			if closed > closed0 {
				state = "closed"
			}
			say("state %d %v %s", subs, running, state)
		default:
			t.Fatalf("unknown command %q", cmd)
		}
	}
}

// usableAddrs keeps what ICE would gather from up, non-loopback
// interfaces.
func TestUsableAddrs(t *testing.T) {
	t.Parallel()
	for a, want := range map[string]bool{
		"192.0.2.1": true, "2001:db8::1": true, "fd00::1": true,
		"127.0.0.1": false, "::1": false, "169.254.1.1": false, "fe80::1": false,
		"fec0::1": false, "::192.0.2.1": false, "0.0.0.0": false, "ff02::1": false, "224.0.0.1": false,
	} {
		if got := usableAddr(netip.MustParseAddr(a)); got != want {
			t.Errorf("%s: usable %v, want %v", a, got, want)
		}
	}
	n, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	ifaces, err := n.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var lo []*pionnet.Interface
	for _, i := range ifaces {
		if i.Name == "lo" {
			lo = append(lo, i)
		}
	}
	if s := usableAddrs(lo); len(s) != 0 {
		t.Errorf("loopback interface gives %v", s)
	}
}
