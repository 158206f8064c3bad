//go:build !js

package session

// Notice when this host's addresses change (a new network, a DHCP
// renewal, an interface that goes away), so that a session can move to a
// new link before its heartbeat calls the peer lost.

import (
	"context"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	pionnet "github.com/pion/transport/v5"
	"github.com/pion/transport/v5/netchange"
)

// netWatch is the process's one network change detector, shared by every
// subscriber: made with the first, closed with the last.
type netWatch struct {
	mu     sync.Mutex
	subs   map[uint64]func()
	next   uint64
	cancel context.CancelFunc // of the running detector's loop; nil: none
	// checks counts the detector's answers (every change it saw, whether
	// it changed the address set or not) and closed the detectors closed
	// so far (tests).
	checks, closed uint64
}

var netWatcher = netWatch{subs: map[uint64]func(){}}

// watchNetwork calls fn (which must not block) after every change of this
// host's usable addresses: the unicast addresses of its up interfaces,
// loopback and link-local ones aside (what ICE gathers), compared as a
// set, so that netlink messages that change nothing in it (an interface's
// flags, an address announced again) do not call fn. stop unsubscribes
// (fn may call it): after it returns, fn is not called again, except by a
// call already under way. Where changes cannot be
// watched (no netlink socket), fn is never called and the reason is
// logged.
func watchNetwork(log *slog.Logger, fn func()) (stop func()) {
	w := &netWatcher
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cancel == nil {
		det, err := netchange.NewDetector()
		if err != nil {
			log.Warn("network changes will not be noticed", "err", err)
			return func() {}
		}
		ctx, cancel := context.WithCancel(context.Background())
		w.cancel = cancel
		go w.run(ctx, det, log)
	}
	id := w.next
	w.next++
	w.subs[id] = fn
	var once sync.Once
	return func() {
		once.Do(func() {
			w.mu.Lock()
			defer w.mu.Unlock()
			delete(w.subs, id)
			if len(w.subs) == 0 && w.cancel != nil {
				w.cancel()
				w.cancel = nil
			}
		})
	}
}

// run checks det until ctx ends, then closes it.
func (w *netWatch) run(ctx context.Context, det *netchange.Detector, log *slog.Logger) {
	defer func() {
		det.Close()
		w.mu.Lock()
		w.closed++
		w.mu.Unlock()
	}()
	var last map[netip.Addr]struct{}
	for first := true; ; first = false {
		if _, err := det.Check(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Debug("watching the network", "err", err)
			// A failing netlink socket would fail again at once.
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		ifaces, err := det.Interfaces()
		if err != nil {
			continue
		}
		now := usableAddrs(ifaces)
		w.mu.Lock()
		w.checks++
		w.mu.Unlock()
		if first || maps.Equal(now, last) {
			last = now
			continue
		}
		last = now
		log.Debug("this host's addresses changed", "addresses", len(now))
		w.mu.Lock()
		if ctx.Err() != nil {
			w.mu.Unlock()
			return
		}
		fns := slices.Collect(maps.Values(w.subs))
		w.mu.Unlock()
		for _, fn := range fns {
			fn()
		}
	}
}

// usableAddrs is the set of unicast addresses a peer could reach this
// host at: of up interfaces that are not loopback, without loopback,
// link-local, IPv4-compatible IPv6 and IPv6 site-local ones (which ICE
// does not gather).
func usableAddrs(ifaces []*pionnet.Interface) map[netip.Addr]struct{} {
	set := map[netip.Addr]struct{}{}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			var ip net.IP
			switch v := a.(type) {
			case *net.IPNet:
				ip = v.IP
			case *net.IPAddr:
				ip = v.IP
			}
			addr, ok := netip.AddrFromSlice(ip)
			if !ok {
				continue
			}
			addr = addr.Unmap()
			if !usableAddr(addr) {
				continue
			}
			set[addr] = struct{}{}
		}
	}
	return set
}

func usableAddr(a netip.Addr) bool {
	switch {
	case !a.IsValid(), a.IsUnspecified(), a.IsLoopback(), a.IsMulticast(), a.IsLinkLocalUnicast():
		return false
	case a.Is6():
		b := a.As16()
		// IPv6 site-local (fec0::/10) and IPv4-compatible (::/96).
		return !(b[0] == 0xfe && b[1]&0xc0 == 0xc0) && [12]byte(b[:12]) != [12]byte{}
	}
	return true
}

// netWatchState reports the subscribers, whether a detector runs, how
// many changes detectors saw and how many were closed so far (tests).
func netWatchState() (subs int, running bool, checks, closed uint64) {
	w := &netWatcher
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.subs), w.cancel != nil, w.checks, w.closed
}
