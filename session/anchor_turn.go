//go:build !js

package session

// The anchor's TURN allocations. pion makes a new allocation for each
// link, so a side's relayed address changes with every link and a peer
// that resumes cannot predict it. A relay-only anchored link instead
// uses allocations of the anchor's own: one per UDP TURN server of the
// options, made on a UDP socket of the anchor's (not the mux's), with the
// options' long-term credentials, refreshed by the TURN client, and kept
// for the session's life while it works. Its relayed connection is one
// more input of the anchor's mux (an ice.UDPMuxDefault over it), so that
// peers' checks to the relayed address reach the link with that ufrag
// and the link's answers go back out through the relay; pion sees the
// relayed address as one of the mux's addresses, and the link's
// description names it as a relay candidate.
//
// Before each link the anchor checks its allocations (probe): one whose
// relayed connection failed, whose socket the server now sees at another
// mapping (a new 5-tuple), or that the server no longer has, is closed
// and a new one made, within turnAllocTimeout.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
)

// Limits and timings of the anchor's allocations.
const (
	// maxTURNServers bounds the UDP TURN servers the anchor allocates on.
	maxTURNServers = 4
	// turnProbeTimeout bounds the check of a live allocation.
	turnProbeTimeout = 3 * time.Second
	// turnAllocTimeout bounds the making of one allocation (name
	// resolution, the mapping and the Allocate exchange).
	turnAllocTimeout = 5 * time.Second
)

// errTURN: the anchor could not make or keep an allocation.
var errTURN = errors.New("session: TURN allocation")

// turnServer is a UDP TURN server of the options.
type turnServer struct {
	host       string // as the URL names it
	port       int
	user, pass string
}

// anchorRelays is the anchor's allocations, one per server at most.
type anchorRelays struct {
	servers []turnServer
	knock   *knocker
	faults  *netFaults
	udp4    bool
	log     *slog.Logger

	ensureMu sync.Mutex // one check at a time
	mu       sync.Mutex
	allocs   []*turnAlloc // the live ones, in the servers' order
	closed   bool
	made     atomic.Int64 // allocations made (tests)
}

// turnAlloc is one allocation.
type turnAlloc struct {
	server  turnServer
	sock    net.PacketConn
	client  *turn.Client
	mux     *ice.UDPMuxDefault
	relayed *net.UDPAddr   // the relayed address
	mapped  netip.AddrPort // the socket's mapping when it was made
	dead    atomic.Bool    // the relayed connection failed
}

// turnServersOf returns the UDP TURN servers (turn: URLs whose transport
// is UDP) of servers, at most maxTURNServers.
func turnServersOf(servers []ICEServer) []turnServer {
	var out []turnServer
	for _, s := range servers {
		for _, u := range s.URLs {
			uri, err := stun.ParseURI(u)
			if err != nil || !isUDPTURN(uri) {
				continue
			}
			ts := turnServer{host: strings.Trim(uri.Host, "[]"), port: uri.Port, user: s.Username, pass: s.Credential}
			if !slices.Contains(out, ts) {
				out = append(out, ts)
			}
			if len(out) == maxTURNServers {
				return out
			}
		}
	}
	return out
}

func isUDPTURN(uri *stun.URI) bool {
	return uri.Scheme == stun.SchemeTypeTURN && (uri.Proto == stun.ProtoTypeUDP || uri.Proto == stun.ProtoTypeUnknown)
}

// withoutUDPTURN returns the ICE servers less their UDP TURN URLs: the
// anchor allocates on those itself.
func withoutUDPTURN(servers []ICEServer) []ICEServer {
	var out []ICEServer
	for _, s := range servers {
		s.URLs = slices.DeleteFunc(slices.Clone(s.URLs), func(u string) bool {
			uri, err := stun.ParseURI(u)
			return err == nil && isUDPTURN(uri)
		})
		if len(s.URLs) > 0 {
			out = append(out, s)
		}
	}
	return out
}

// newAnchorRelays returns the anchor's allocations for opts' UDP TURN
// servers, nil if there is none. Nothing is allocated until a relay-only
// link asks (ensure).
func newAnchorRelays(opts *Options, k *knocker) *anchorRelays {
	servers := turnServersOf(opts.ICEServers)
	if len(servers) == 0 {
		return nil
	}
	return &anchorRelays{servers: servers, knock: k, faults: opts.faults, udp4: opts.UDP4Only, log: opts.logger()}
}

// ensure checks every allocation and makes the missing or failed ones,
// each within its bound; it returns when all are done or ctx ends.
func (r *anchorRelays) ensure(ctx context.Context) {
	r.ensureMu.Lock()
	defer r.ensureMu.Unlock()
	r.mu.Lock()
	old := slices.Clone(r.allocs)
	r.mu.Unlock()
	got := make([]*turnAlloc, len(r.servers))
	var wg sync.WaitGroup
	for i, s := range r.servers {
		var cur *turnAlloc
		for _, a := range old {
			if a.server == s {
				cur = a
			}
		}
		wg.Go(func() {
			if cur != nil {
				gone, err := cur.probe(ctx)
				if !gone {
					if err != nil {
						r.log.Debug("the session's TURN allocation is kept unchecked", "relayed", cur.relayed, "err", err)
					}
					got[i] = cur
					return
				}
				r.log.Debug("the session's TURN allocation is gone; making a new one", "relayed", cur.relayed, "err", err)
				cur.close()
			}
			a, err := r.allocate(ctx, s)
			if err != nil {
				r.log.Debug("no TURN allocation", "err", err)
				return
			}
			got[i] = a
		})
	}
	wg.Wait()
	live := slices.DeleteFunc(got, func(a *turnAlloc) bool { return a == nil })
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		for _, a := range live {
			a.close()
		}
		return
	}
	r.allocs = live
	r.mu.Unlock()
}

// current returns the live allocations.
func (r *anchorRelays) current() []*turnAlloc {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.allocs)
}

// find returns the allocation whose relayed address is addr.
func (r *anchorRelays) find(addr net.Addr) *turnAlloc {
	u, ok := addr.(*net.UDPAddr)
	if !ok {
		return nil
	}
	for _, a := range r.current() {
		if a.relayed.IP.Equal(u.IP) && a.relayed.Port == u.Port {
			return a
		}
	}
	return nil
}

// isRelayed reports whether ap is the relayed address of an allocation.
func (r *anchorRelays) isRelayed(ap netip.AddrPort) bool {
	return r.find(net.UDPAddrFromAddrPort(ap)) != nil
}

func (r *anchorRelays) close() error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	r.closed = true
	allocs := r.allocs
	r.allocs = nil
	r.mu.Unlock()
	for _, a := range allocs {
		a.close()
	}
	return nil
}

// allocate makes an allocation on s from a new socket of the anchor's,
// within turnAllocTimeout.
func (r *anchorRelays) allocate(ctx context.Context, s turnServer) (*turnAlloc, error) {
	ctx, cancel := context.WithTimeout(ctx, turnAllocTimeout)
	defer cancel()
	server, err := r.resolve(ctx, s)
	if err != nil {
		return nil, err
	}
	fam := "udp4"
	if !server.Addr().Is4() {
		fam = "udp6"
	}
	sock, err := net.ListenUDP(fam, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: opening its socket: %w", errTURN, err)
	}
	sock.SetReadBuffer(socketBuffer)
	sock.SetWriteBuffer(socketBuffer)
	client, err := turn.NewClient(&turn.ClientConfig{
		TURNServerAddr: server.String(),
		Username:       s.user,
		Password:       s.pass,
		Conn:           sock,
		LoggerFactory:  slogPionFactory{r.log.With("pion", "turnc")},
	})
	if err != nil {
		sock.Close()
		return nil, fmt.Errorf("%w: %w", errTURN, err)
	}
	if err := client.Listen(); err != nil {
		client.Close()
		sock.Close()
		return nil, fmt.Errorf("%w: %w", errTURN, err)
	}
	a := &turnAlloc{server: s, sock: sock, client: client}
	fail := func(err error) (*turnAlloc, error) {
		client.Close()
		sock.Close()
		return nil, err
	}
	if a.mapped, err = a.mapping(ctx); err != nil {
		return fail(err)
	}
	relayed, err := client.AllocateWithContext(ctx)
	if err != nil {
		return fail(fmt.Errorf("%w: allocating on %v: %w", errTURN, server, err))
	}
	u, ok := relayed.LocalAddr().(*net.UDPAddr)
	if !ok {
		relayed.Close()
		return fail(fmt.Errorf("%w: relayed address %v is not a UDP address", errTURN, relayed.LocalAddr()))
	}
	a.relayed = u
	a.mux = ice.NewUDPMuxDefault(ice.UDPMuxParams{
		UDPConn: &relayedConn{PacketConn: relayed, alloc: a, knock: r.knock, faults: r.faults, client: client, sock: sock},
		Logger:  muxLogger(r.log),
	})
	r.made.Add(1)
	r.log.Debug("TURN allocation for the session", "server", server, "relayed", u)
	return a, nil
}

// resolve returns s's address (the first one of an allowed family).
func (r *anchorRelays) resolve(ctx context.Context, s turnServer) (netip.AddrPort, error) {
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(s.host); err == nil {
		ips = []netip.Addr{ip}
	} else if ips, err = net.DefaultResolver.LookupNetIP(ctx, "ip", s.host); err != nil {
		return netip.AddrPort{}, fmt.Errorf("%w: resolving the server: %w", errTURN, err)
	}
	for _, ip := range ips {
		if ip = ip.Unmap(); ip.Is4() || !r.udp4 {
			return netip.AddrPortFrom(ip, uint16(s.port)), nil
		}
	}
	return netip.AddrPort{}, fmt.Errorf("%w: the server has no address of a family in use", errTURN)
}

// mapping asks the server for the socket's mapping (a Binding request).
func (a *turnAlloc) mapping(ctx context.Context) (netip.AddrPort, error) {
	m, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	if err != nil {
		return netip.AddrPort{}, err
	}
	res, err := a.client.PerformTransactionWithContext(m, a.client.TURNServerAddr(), false, ctx)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%w: no mapping from %v: %w", errTURN, a.client.TURNServerAddr(), err)
	}
	var x stun.XORMappedAddress
	if err := x.GetFrom(res.Msg); err != nil {
		return netip.AddrPort{}, fmt.Errorf("%w: %v answered without a mapping: %w", errTURN, a.client.TURNServerAddr(), err)
	}
	ip, ok := netip.AddrFromSlice(x.IP)
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("%w: %v answered with a bad mapping", errTURN, a.client.TURNServerAddr())
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(x.Port)), nil
}

// errMoved: the allocation's socket has another mapping than the one
// it was made from.
var errMoved = errors.New("session: the TURN allocation's socket has a new mapping")

// probe checks the allocation within turnProbeTimeout and reports
// whether it is gone: its relayed connection failed, the server sees its
// socket at another mapping (a new 5-tuple, which the allocation does
// not belong to), or the server answers a CreatePermission (for the
// allocation's own relayed address) with 437 Allocation Mismatch, or the
// socket cannot send. A server that does not answer in time leaves the
// allocation as it is (a new one could not be made either).
func (a *turnAlloc) probe(ctx context.Context) (gone bool, err error) {
	if a.dead.Load() {
		return true, fmt.Errorf("%w: its relayed connection failed", errTURN)
	}
	ctx, cancel := context.WithTimeout(ctx, turnProbeTimeout)
	defer cancel()
	m, err := a.mapping(ctx)
	if err != nil {
		// Unanswered: kept. Not sent (the socket failed): gone.
		return ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded), err
	}
	if m != a.mapped {
		return true, fmt.Errorf("%w: %w (%v, was %v)", errTURN, errMoved, m, a.mapped)
	}
	done := make(chan error, 1)
	go func() {
		// (The TURN client has no context here; closing it ends the
		// request.) A stale nonce is answered with a new one: once more.
		err := a.client.CreatePermission(a.relayed)
		if err != nil && err.Error() == "try again" {
			err = a.client.CreatePermission(a.relayed)
		}
		done <- err
	}()
	select {
	case err := <-done:
		var te *stun.TurnError
		if errors.As(err, &te) && te.ErrorCodeAttr.Code == stun.CodeAllocMismatch {
			return true, fmt.Errorf("%w: the server no longer has it: %w", errTURN, err)
		}
		return false, err
	case <-ctx.Done():
		return false, fmt.Errorf("%w: no answer to the permission check: %w", errTURN, ctx.Err())
	}
}

// close closes the mux, which closes the relayed connection (a Refresh
// of lifetime 0 releases the allocation), the client and the socket.
func (a *turnAlloc) close() {
	a.dead.Store(true)
	a.mux.Close()
}
