package session

import (
	"log/slog"
	"time"

	pionnet "github.com/pion/transport/v5"
	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/internal/seal"
	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/link"
	"github.com/sp2p/sp2p/ratelimit"
)

// ICEServer is a STUN or TURN server. URLs look like "stun:host:3478" or
// "turn:host:3478?transport=udp".
type ICEServer struct {
	URLs       []string
	Username   string
	Credential string
}

// Options configure a session. The zero value connects over UDP on all
// interfaces with no ICE servers, a reliable ordered channel, a 5-minute
// invitation, and the default heartbeat, record-layer and rate-limit
// settings.
type Options struct {
	// ICEServers are STUN and TURN servers used to gather candidates.
	ICEServers []ICEServer
	// LoopbackOnly gathers only loopback candidates (127.0.0.1, ::1): for
	// tests, demos and two peers on one machine.
	LoopbackOnly bool
	// IncludeLoopback also gathers loopback candidates next to the others.
	IncludeLoopback bool
	// UDP4Only restricts candidates to UDP over IPv4 (default: UDP over
	// IPv4 and IPv6).
	UDP4Only bool
	// RelayOnly uses only relay (TURN) candidates: neither token carries a
	// host or server-reflexive address, so the peers do not learn each
	// other's addresses. It needs a TURN server in ICEServers.
	RelayOnly bool

	// Channel sets the data channel's delivery (offerer only; the answerer
	// follows the offer).
	Channel invite.ChannelOptions
	// Purpose says what the invitation is for (offerer only): signed in
	// the offer, so the invitee's program can refuse a token meant for
	// another (see invite.Offer.CheckPurpose). Zero is a chat.
	Purpose invite.Purpose
	// Lifetime of the invitation (offerer only); 0 means 5 minutes.
	Lifetime time.Duration
	// Recipient, when set, is the only identity that may answer (offerer)
	// and the only identity accepted.
	Recipient identity.ID
	// Expect, when set, is the only peer accepted: the inviter (answerer
	// side) or the answerer (offerer side).
	Expect identity.ID

	// HeartbeatTimeout is how long without any record from the peer before
	// the session ends with ErrPeerLost; default 15 s. Pings go out every
	// third of it.
	HeartbeatTimeout time.Duration

	// MaxQueuedBytes bounds the received messages that wait for Receive
	// (or a Group), in bytes: when they reach it, the session stops
	// reading from the peer and the peer's sends block. A single message
	// larger than the bound (up to Seal.MaxMessageSize) waits until the
	// queue is empty. Default 4 MiB.
	MaxQueuedBytes int

	// Seal configures the record layer.
	Seal seal.Config
	// Limiter applies per-peer budgets on receive. Sessions of a Group
	// share the group's limiter; nil gives the session a limiter of its
	// own with the default limits. Limiters made by this package share
	// the process's record of penalties (Penalties), so a peer
	// disconnected for invalid records is refused by every session,
	// invitation and group of the process; a Limiter made by the caller
	// shares it only if made with ratelimit.NewShared(…, Penalties()).
	Limiter *ratelimit.Limiter[identity.ID]

	// Logger receives debug and warning logs; nil discards them. Logs
	// never contain keys or message contents.
	Logger *slog.Logger

	// Now is the clock for tokens; nil means time.Now.
	Now func() time.Time

	// OnNetwork, if set, is told when the connection to the peer is
	// interrupted (no traffic for 5 s) and when it recovers. A short
	// outage does not end a session: ICE recovers and SCTP resends what
	// was lost; only HeartbeatTimeout of silence does. It runs on the
	// session's own goroutines: it must return promptly and must not
	// call Close (which waits for them).
	OnNetwork func(NetworkEvent)

	// ResumeWindow is how long a session whose link failed (an address
	// change, a NAT that forgot its mapping, an outage) keeps trying to
	// resume on a new link before it ends with ErrPeerLost. Zero means
	// DefaultResumeWindow; negative turns resumption off (the session
	// then ends when its link does, as before). Both sides must resume.
	ResumeWindow time.Duration
	// OnResumed, if set, is told of each resumption: how long the
	// session was moving and the new path. Like OnNetwork, it must not
	// call Close.
	OnResumed func(Resumption)
	// ResumeBuffer bounds the bytes of sent messages a resumable session
	// keeps until the peer acknowledges them (one larger message is kept
	// alone); Send waits while it is full. Zero means
	// DefaultResumeBuffer.
	ResumeBuffer int

	// Link makes the link the handshake runs over; nil means pion on the
	// host's network (in a browser build, the browser's RTCPeerConnection
	// through pion). The ICE and candidate options above apply to pion
	// only. Tests use an in-memory network (internal/memlink).
	Link link.Maker

	// faults, set only by this package's tests, cuts the network or
	// drops datagrams.
	faults *netFaults

	// testNet, set only by this package's tests, replaces the host's
	// network (a pion vnet with delay and jitter).
	testNet pionnet.Net

	// noCwndFloor, set only by this package's benchmarks, leaves pion's
	// congestion window without sp2p's floor, for comparison.
	noCwndFloor bool

	// mangleLocalDesc, set only by this package's tests, changes this
	// side's connection description before it is signed (a wrong DTLS
	// fingerprint, for instance).
	mangleLocalDesc func(*invite.ConnDesc)

	// wrapTransport, set only by this package's tests, sits below the
	// record layer to tamper with or replay records.
	wrapTransport func(transport) transport
	// noFeatures, set only by this package's tests, makes the session
	// announce no features, as a version before batch records did.
	noFeatures bool
}

// Defaults.
const (
	DefaultResumeWindow     = 3 * time.Minute
	DefaultResumeBuffer     = 4 << 20
	DefaultHeartbeatTimeout = 15 * time.Second
	// MaxRecord is the largest record sessions send and accept: 65,535
	// bytes, the largest SCTP message pion accepts when the peer
	// announces no max-message-size. Each session holds a receive buffer
	// of this size (pion drops a message that does not fit), most of an
	// idle session's memory; 16 KiB records would bring an idle session
	// from 1.49 to 1.03 times a plain pion channel but cost 12-29 % of
	// bulk throughput with 60 KB messages (BENCHMARKS.md).
	MaxRecord = 64<<10 - 1
	// incomingQueue is how many received messages wait for Receive before
	// the reader stops reading (backpressure).
	incomingQueue = 64
	// DefaultMaxQueuedBytes is Options.MaxQueuedBytes's default.
	DefaultMaxQueuedBytes = 4 << 20
)

func (o *Options) maxQueuedBytes() int {
	if o.MaxQueuedBytes <= 0 {
		return DefaultMaxQueuedBytes
	}
	return o.MaxQueuedBytes
}

// processPenalties is the process's record of penalised peers.
var processPenalties = ratelimit.NewPenalties[identity.ID](0, nil)

// Penalties returns the process's record of penalised peers, which every
// limiter this package makes shares. Pass it to ratelimit.NewShared to make
// a Limiter of your own that honours (and adds to) the same penalties.
func Penalties() *ratelimit.Penalties[identity.ID] { return processPenalties }

func newLimiter(l ratelimit.Limits) *ratelimit.Limiter[identity.ID] {
	return ratelimit.NewShared(l, nil, processPenalties)
}

func (o *Options) heartbeat() time.Duration {
	if o.HeartbeatTimeout <= 0 {
		return DefaultHeartbeatTimeout
	}
	return o.HeartbeatTimeout
}

func (o *Options) now() time.Time {
	if o.Now == nil {
		return time.Now()
	}
	return o.Now()
}

func (o *Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

func (o *Options) resumeWindow() time.Duration {
	if o.ResumeWindow == 0 {
		return DefaultResumeWindow
	}
	return o.ResumeWindow
}

func (o *Options) resumeBuffer() int {
	if o.ResumeBuffer <= 0 {
		return DefaultResumeBuffer
	}
	return o.ResumeBuffer
}
