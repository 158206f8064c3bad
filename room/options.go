package room

import (
	"log/slog"
	"time"

	"github.com/sp2p/sp2p/session"
)

// MeshParams bound each member's neighbours, as gossipsub v1.1's D_lo, D
// and D_hi do. The defaults and the reasons for them are in SECURITY.md
// ("Rooms", "Mesh").
type MeshParams struct {
	// Low is the degree under which a member grafts neighbours into its
	// mesh or asks for introductions to more (default 4).
	Low int
	// Target is the degree grafting and pruning aim for (default 6).
	Target int
	// High is the degree above which a member prunes its mesh back to
	// Target (default 8).
	High int
	// MaxNeighbours bounds the sessions a member keeps, mesh or not
	// (default High + 4). Neighbours outside the mesh get IHAVEs.
	MaxNeighbours int
	// PruneBackoff is how long a pruned neighbour may not graft again
	// (default 1 minute).
	PruneBackoff time.Duration
	// GossipHistory is how many heartbeats of message IDs an IHAVE
	// announces (default 3).
	GossipHistory int
}

// DefaultMesh returns the default mesh parameters.
func DefaultMesh() MeshParams {
	return MeshParams{Low: 4, Target: 6, High: 8, MaxNeighbours: 12, PruneBackoff: time.Minute, GossipHistory: 3}
}

func (p MeshParams) withDefaults() MeshParams {
	d := DefaultMesh()
	if p.Low <= 0 {
		p.Low = d.Low
	}
	if p.Target < p.Low {
		p.Target = max(d.Target, p.Low)
	}
	if p.High < p.Target {
		p.High = max(d.High, p.Target)
	}
	if p.MaxNeighbours < p.High {
		p.MaxNeighbours = p.High + 4
	}
	if p.PruneBackoff <= 0 {
		p.PruneBackoff = d.PruneBackoff
	}
	if p.GossipHistory <= 0 {
		p.GossipHistory = d.GossipHistory
	}
	return p
}

// Budget is what one origin may publish, as every member counts it.
// Messages beyond it are dropped; a neighbour that is itself the origin of
// them is charged a rate-limit violation for each.
type Budget struct {
	MessagesPerSecond float64 // default 50
	MessageBurst      int     // default 100
	BytesPerSecond    float64 // default 1 MiB/s
	ByteBurst         int     // default 4 MiB
}

func (b Budget) withDefaults() Budget {
	if b.MessagesPerSecond <= 0 {
		b.MessagesPerSecond = 50
	}
	if b.MessageBurst <= 0 {
		b.MessageBurst = 100
	}
	if b.BytesPerSecond <= 0 {
		b.BytesPerSecond = 1 << 20
	}
	if b.ByteBurst <= 0 {
		b.ByteBurst = 4 << 20
	}
	b.ByteBurst = max(b.ByteBurst, MaxPayload)
	return b
}

// Options configure a room member.
type Options struct {
	// Session is the base of every session the room makes: the link
	// maker (Session.Link: an in-memory network in tests, pion by
	// default), ICE servers, heartbeat and record settings. The room sets
	// Recipient, Expect and Lifetime itself for introductions.
	Session session.Options

	Mesh   MeshParams
	Score  ScoreParams
	Budget Budget

	// Heartbeat is the period of mesh maintenance, IHAVE gossip and
	// score decay (default 1 s).
	Heartbeat time.Duration
	// MaxAge is how old a message may be when it arrives (default 2
	// minutes); messages older than half of it are delivered but not
	// forwarded, so that an honest forwarder never sends one that is
	// too old.
	MaxAge time.Duration
	// MaxSkew is how far in the future a message's or a record's time
	// may be (default 2 minutes, as for tokens).
	MaxSkew time.Duration
	// QueueBytes bounds each neighbour's send queue of gossip (default
	// 1 MiB): gossip beyond it is dropped for that neighbour only (the
	// next IHAVE announces it), so a slow neighbour never blocks the
	// others. Control frames (membership, introductions, grafts, IHAVE,
	// IWANT and its answers) are never dropped; a neighbour that lets
	// them pile up to 4 times the bound is disconnected.
	QueueBytes int
	// IntroLifetime is the lifetime of the invitations of in-band
	// introductions (default 30 s).
	IntroLifetime time.Duration
	// SeenCache bounds the message IDs remembered for duplicate
	// detection (default 65,536; they are also forgotten after MaxAge).
	SeenCache int
	// History bounds the messages kept to answer IWANTs (default 4,096,
	// and at most 64 MiB of payload).
	History int
	// Events bounds the events waiting for Next (default 4,096); when it
	// is full, new events are dropped and counted in Stats.
	Events int

	// Direct holds the handlers of the direct channels this member uses
	// (index 1 to 255; see Room.SendDirect). A direct frame on a channel
	// without a handler is invalid, counted against its sender.
	Direct map[byte]DirectHandler

	// Logger receives debug logs; nil discards them. Logs never contain
	// message contents or keys.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	o.Mesh = o.Mesh.withDefaults()
	o.Score = o.Score.withDefaults()
	o.Budget = o.Budget.withDefaults()
	if o.Heartbeat <= 0 {
		o.Heartbeat = time.Second
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 2 * time.Minute
	}
	if o.MaxSkew <= 0 {
		o.MaxSkew = 2 * time.Minute
	}
	if o.QueueBytes <= 0 {
		o.QueueBytes = 1 << 20
	}
	o.QueueBytes = max(o.QueueBytes, MaxFrame)
	if o.IntroLifetime <= 0 {
		o.IntroLifetime = 30 * time.Second
	}
	if o.SeenCache <= 0 {
		o.SeenCache = 1 << 16
	}
	if o.History <= 0 {
		o.History = 4096
	}
	if o.Events <= 0 {
		o.Events = 4096
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}
