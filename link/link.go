// Package link is the seam under sp2p's handshake: everything the
// handshake, the record layer and the Session API need from a transport,
// and nothing more. A Link produces this side's connection description
// (which travels, signed, inside the offer or answer token), applies the
// peer's, and opens a message channel with backpressure whose far end is
// authenticated by the DTLS fingerprint in the peer's signed description.
//
// Implementations: pion on the host network (package session, the
// default), pion's browser build under GOOS=js (package session, the
// default there), and an in-memory network for tests (internal/memlink),
// which carries the real handshake and record layer with injectable loss,
// delay, reordering, duplication, outages and a bandwidth cap. Nothing
// above a Link knows which one it has, so a session could move to another
// one.
package link

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"time"

	"github.com/sp2p/sp2p/invite"
)

// Link is one connection attempt between two peers. The offerer calls
// Offer, hands the description to the answerer (inside the signed offer),
// and later Apply with the answerer's; the answerer calls Answer with the
// offerer's. Both then call Open. A Link is used once.
type Link interface {
	// Offer gathers this side's candidates and returns its connection
	// description (DTLS role actpass).
	Offer(ctx context.Context) (*invite.ConnDesc, error)
	// Answer applies the offerer's description, gathers this side's
	// candidates and returns the answer's description.
	Answer(ctx context.Context, offer *invite.ConnDesc) (*invite.ConnDesc, error)
	// Apply gives the offerer the answerer's description; connecting
	// starts.
	Apply(answer *invite.ConnDesc) error
	// Open waits until the channel to the peer is open. Its errors wrap
	// ErrConnectFailed, or are ErrCertificateMismatch.
	Open(ctx context.Context) (Channel, error)
	// Close releases the link and any channel it opened.
	Close() error
}

// Channel carries messages (one record each) in both directions, in order
// unless the link was made for an unordered channel.
type Channel interface {
	// ReadMessage reads one whole message into p. A message larger than
	// p is an error (io.ErrShortBuffer).
	ReadMessage(p []byte) (int, error)
	// WriteMessage sends one message, blocking while the link's send
	// buffer is full (backpressure) or until the write deadline.
	WriteMessage(p []byte) error
	// SetWriteDeadline bounds blocked and future writes (zero: none); a
	// write past it fails with an error wrapping os.ErrDeadlineExceeded.
	SetWriteDeadline(t time.Time) error
	// Close ends the channel; the peer's reads then fail.
	Close() error
}

// TryWriter is a Channel that can tell a write that would wait from one
// that would not: TryWriteMessage sends p only if the link takes it without
// waiting, and reports false (and sends nothing) if it would block. A
// session uses it to queue small messages behind a busy link instead of
// waiting, so that they go together in one record.
type TryWriter interface {
	TryWriteMessage(p []byte) (bool, error)
}

// PathStats is what a Channel knows of the network path under it: the
// connectivity checks on the path in use (ICE sends them while the path is
// idle, about every 2 s) and how many were answered. Checks lost on the
// way (either way) are the path's loss.
type PathStats struct {
	ChecksSent, ChecksAnswered uint64
	// RTT is the round trip of the last answered check (0: none yet).
	RTT time.Duration
	// Local and Remote are the addresses of the path in use (the
	// selected candidate pair): Remote is where this side reaches the
	// peer, which a session that resumes tries first. Zero: unknown.
	Local, Remote netip.AddrPort
}

// Loss is the fraction of checks not answered, from 0 to 1, and false
// when no check was sent yet.
func (p PathStats) Loss() (float64, bool) {
	if p.ChecksSent == 0 {
		return 0, false
	}
	answered := min(p.ChecksAnswered, p.ChecksSent)
	return float64(p.ChecksSent-answered) / float64(p.ChecksSent), true
}

// PathReporter is a Channel that can report PathStats. Channels that know
// nothing of a network path (an in-memory link) do not implement it.
type PathReporter interface {
	PathStats() (PathStats, bool)
}

// Event is a change in the connection under an open channel.
type Event int

// Events.
const (
	// Interrupted: no traffic reaches the peer for a while. A short
	// outage does not end the channel; what was sent meanwhile arrives
	// when it ends.
	Interrupted Event = iota + 1
	// Recovered: traffic flows again.
	Recovered
	// Moving (from a session, not a link): the session's link failed or
	// the network changed, and the session is resuming on a new link;
	// sends wait meanwhile.
	Moving
	// Resumed (from a session): the session resumed on a new link;
	// nothing sent was lost.
	Resumed
)

func (e Event) String() string {
	switch e {
	case Interrupted:
		return "interrupted"
	case Recovered:
		return "recovered"
	case Moving:
		return "moving"
	case Resumed:
		return "resumed"
	}
	return fmt.Sprintf("Event(%d)", int(e))
}

// Config is what a Link is made with, whatever its kind.
type Config struct {
	// Channel is the data channel's delivery (the offerer's choice; the
	// answerer follows the offer).
	Channel invite.ChannelOptions
	// ConnectTimeout is how long the link keeps trying to reach the peer
	// before Open fails (the answerer waits for the invitation's whole
	// lifetime: people paste answers slowly).
	ConnectTimeout time.Duration
	// OnNetwork, if set, is told of interruptions and recoveries of an
	// open channel.
	OnNetwork func(Event)
	// ICEUfrag and ICEPwd are the ICE credentials this side's description
	// must have: tokens do not carry them, both sides derive them from
	// the token's ephemeral key (invite.ICECredentials). Empty: the link
	// chooses its own, which no token can carry (benchmarks of the bare
	// transport).
	ICEUfrag, ICEPwd string
	// Anchor, if set, is shared by the successive links of one session,
	// so that the session can move to a new link (resumption) and be
	// found where it was: a link made with an Anchor keeps its kind's
	// long-lived state there (pion: the DTLS certificate and the local
	// UDP sockets), and every later link made with the same Anchor reuses
	// it, so it has the same certificate fingerprint and the same local
	// ports. The session closes the Anchor when it ends.
	Anchor *Anchor
}

// Anchor holds what the links of one session share (Config.Anchor). Its
// zero value is ready to use; the link kind that uses it stores its state
// there on first use.
type Anchor struct {
	mu     sync.Mutex
	state  io.Closer
	closed bool
	knock  string
	onKnk  func()
}

// ErrAnchorClosed is returned by a link made with a closed Anchor.
var ErrAnchorClosed = errors.New("link: the session's link anchor is closed")

// State returns the anchor's state, making it with make on first use (a
// link kind's own type; a link of another kind gets a type it does not
// expect and fails).
func (a *Anchor) State(make func() (io.Closer, error)) (io.Closer, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil, ErrAnchorClosed
	}
	if a.state == nil {
		st, err := make()
		if err != nil {
			return nil, err
		}
		a.state = st
	}
	return a.state, nil
}

// SetKnock asks the anchor's link kind to call fn when a connectivity
// check for the ICE username fragment ufrag (this side's next link's)
// reaches the anchor's sockets while no link with that fragment exists:
// the peer is already trying to reach this side's next link. Empty ufrag
// or nil fn stops it. Link kinds without sockets of their own ignore it.
func (a *Anchor) SetKnock(ufrag string, fn func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.knock, a.onKnk = ufrag, fn
	if ufrag == "" {
		a.onKnk = nil
	}
}

// Knock returns what SetKnock set (for the link kind).
func (a *Anchor) Knock() (string, func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.knock, a.onKnk
}

// Close releases the anchor's state; links made with it afterwards fail
// with ErrAnchorClosed.
func (a *Anchor) Close() error {
	a.mu.Lock()
	st := a.state
	a.state, a.closed, a.onKnk = nil, true, nil
	a.mu.Unlock()
	if st != nil {
		return st.Close()
	}
	return nil
}

// Maker makes a Link.
type Maker func(Config) (Link, error)

// Errors of Open.
var (
	// ErrConnectFailed: the peers could not reach each other, or the
	// secure handshake between them failed.
	ErrConnectFailed = errors.New("could not connect to the peer")
	// ErrHandshakeFailed (wrapped with ErrConnectFailed): the peer was
	// reached, but the DTLS handshake failed; not a NAT problem.
	ErrHandshakeFailed = errors.New("the peer was reached, but the DTLS handshake failed: the peer may have refused this side's certificate (which is what interference on the path looks like) or the handshake was cut off; this is not a NAT problem")
	// ErrCertificateMismatch: the peer was reached but presented a
	// certificate whose fingerprint is not the one in its signed
	// description. It does not wrap ErrConnectFailed: it is not a network
	// problem.
	ErrCertificateMismatch = errors.New("the peer's DTLS certificate does not match the fingerprint in its signed token: the connection may be under attack (this is not a NAT or firewall problem); do not retry over this path before checking it")
)
