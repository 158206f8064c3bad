package room

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/session"
)

// Errors of the Room API.
var (
	ErrClosed   = errors.New("room: closed")
	ErrTooLarge = fmt.Errorf("room: a message has at most %d bytes", MaxPayload)
	ErrProtocol = errors.New("room: the peer broke the room protocol")
)

// EventKind says what an Event is.
type EventKind int

// Event kinds.
const (
	// EventMessage: a room message arrived (never one's own).
	EventMessage EventKind = iota + 1
	// EventJoined: an identity became a member.
	EventJoined
	// EventRemoved: a member was removed by the creator (it may be this
	// member: the room then closes).
	EventRemoved
	// EventNeighbourUp and EventNeighbourDown: a session with a member
	// opened or ended.
	EventNeighbourUp
	EventNeighbourDown
)

func (k EventKind) String() string {
	switch k {
	case EventMessage:
		return "message"
	case EventJoined:
		return "joined"
	case EventRemoved:
		return "removed"
	case EventNeighbourUp:
		return "neighbour up"
	case EventNeighbourDown:
		return "neighbour down"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Message is a room message as delivered: authentic (signed by From),
// from a member, new, and within the time window.
type Message struct {
	ID   MessageID
	From identity.ID
	Seq  uint64
	Time time.Time // the origin's clock
	Data []byte
}

// Event is something that happened in the room.
type Event struct {
	Kind    EventKind
	Member  identity.ID // for every kind but EventMessage
	Message *Message    // for EventMessage
	Err     error       // for EventNeighbourDown: why the session ended
}

// Stats are a member's counters of the room's traffic.
type Stats struct {
	Published, Delivered, Forwarded, Duplicates uint64
	// Messages and frames dropped, by reason.
	Malformed, Forged, NonMember, Removed, Replayed, Stale, OverBudget uint64
	QueueDrops, EventsDropped                                          uint64
	IHaveSent, IWantSent, IWantServed                                  uint64
}

// originState is what a member remembers of one origin: a sliding window
// of sequence numbers and its budget.
type originState struct {
	high  uint64
	bits  [window / 64]uint64
	msgs  *rate.Limiter
	bytes *rate.Limiter
}

const window = 1024

var errReplay = errors.New("replayed sequence number")

func (o *originState) check(seq uint64) error {
	if seq > o.high {
		return nil
	}
	if o.high-seq >= window {
		return fmt.Errorf("%w: older than the window", errReplay)
	}
	if o.bits[(seq/64)%(window/64)]&(1<<(seq%64)) != 0 {
		return errReplay
	}
	return nil
}

func (o *originState) mark(seq uint64) {
	if seq > o.high {
		d := seq - o.high
		if d >= window {
			o.bits = [window / 64]uint64{}
		} else {
			for s := o.high + 1; s <= seq; s++ {
				o.bits[(s/64)%(window/64)] &^= 1 << (s % 64)
			}
		}
		o.high = seq
	}
	o.bits[(seq/64)%(window/64)] |= 1 << (seq % 64)
}

type stored struct {
	frame []byte // the PUBLISH frame as forwarded
	at    time.Time
	have  []identity.ID // neighbours known to have it
}

type seenEntry struct {
	id MessageID
	at time.Time
}

// Room is one member's view of a room: its membership, its neighbours and
// the gossip between them. All methods are safe for concurrent use; the
// caller must call Close.
type Room struct {
	self  *identity.Identity
	desc  descriptor
	rid   ID
	opts  Options
	log   *slog.Logger
	own   *rate.Limiter // this member's own publishing, under its budget
	ownB  *rate.Limiter
	ctx   context.Context
	stop  context.CancelFunc
	wg    sync.WaitGroup
	evwk  chan struct{}
	endCh chan struct{}

	mu         sync.Mutex
	closed     bool
	err        error
	members    *membership
	neigh      map[identity.ID]*neighbour
	scores     map[identity.ID]*score
	backoff    map[identity.ID]time.Time
	origins    map[identity.ID]*originState
	directLim  map[identity.ID]*rate.Limiter // each sender's DIRECT byte budget
	directOut  map[identity.ID]*rate.Limiter // this member's own DIRECT pace, per neighbour
	seen       map[MessageID]time.Time
	seenQ      []seenEntry
	store      map[MessageID]*stored
	storeQ     []MessageID
	storeSize  int
	history    [][]MessageID
	promises   map[MessageID]promise
	promisedBy map[identity.ID]int // outstanding promises per neighbour
	seq        uint64
	intros     map[identity.ID]*pendingIntro // introductions this member asked for, by target
	accepts    int                           // introductions accepted, not yet open
	asked      time.Time                     // last introduction request
	lastBeat   time.Time
	stats      Stats
	evq        []Event

	// Test hooks: a member that misbehaves.
	noForward bool       // forwards nothing and answers no IWANT
	stall     sync.Mutex // held: the member stops reading its sessions
}

// Create makes a new room named name, with id as its creator and only
// member. Others join through Invite.
func Create(id *identity.Identity, name string, opts Options) (*Room, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	d := descriptor{creator: id.ID(), name: name}
	if _, err := rand.Read(d.nonce[:]); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	return newRoom(id, d, newMembership(d.id(), d.creator, opts.MaxSkew), opts), nil
}

func newRoom(id *identity.Identity, d descriptor, m *membership, opts Options) *Room {
	ctx, stop := context.WithCancel(context.Background())
	b := opts.Budget
	now := opts.Now()
	r := &Room{
		self: id, desc: d, rid: d.id(), opts: opts,
		own:  rate.NewLimiter(rate.Limit(b.MessagesPerSecond*0.8), max(1, b.MessageBurst/2)),
		ownB: rate.NewLimiter(rate.Limit(b.BytesPerSecond*0.8), max(MaxPayload, b.ByteBurst/2)),
		ctx:  ctx, stop: stop,
		evwk: make(chan struct{}, 1), endCh: make(chan struct{}),
		members:    m,
		neigh:      map[identity.ID]*neighbour{},
		scores:     map[identity.ID]*score{},
		backoff:    map[identity.ID]time.Time{},
		origins:    map[identity.ID]*originState{},
		seen:       map[MessageID]time.Time{},
		store:      map[MessageID]*stored{},
		history:    make([][]MessageID, opts.Mesh.GossipHistory),
		promises:   map[MessageID]promise{},
		promisedBy: map[identity.ID]int{},
		seq:        uint64(now.UnixMicro()),
		intros:     map[identity.ID]*pendingIntro{},
		lastBeat:   now,
	}
	r.log = opts.Logger.With("room", r.rid.String(), "self", id.ID().Fingerprint())
	r.wg.Add(1)
	go r.beatLoop()
	return r
}

// ID returns the room's ID.
func (r *Room) ID() ID { return r.rid }

// Name returns the room's name.
func (r *Room) Name() string { return r.desc.name }

// Self returns this member's identity.
func (r *Room) Self() identity.ID { return r.self.ID() }

// Creator returns the room's creator.
func (r *Room) Creator() identity.ID { return r.desc.creator }

// Members lists the room's members as this member knows them.
func (r *Room) Members() []identity.ID {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.members.members()
}

// IsMember reports whether id is a member, as this member knows.
func (r *Room) IsMember(id identity.ID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.members.isMember(id)
}

// Stats returns the member's counters.
func (r *Room) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Neighbours lists the members this one has a session with, and their
// health.
func (r *Room) Neighbours() []Neighbour {
	r.mu.Lock()
	out := make([]Neighbour, 0, len(r.neigh))
	sessions := make([]*session.Session, 0, len(r.neigh))
	for _, n := range r.neigh {
		st := n.s.Stats()
		c := n.counters
		c.ID, c.Mesh, c.Path, c.Since = n.id, n.mesh, n.path, n.since
		c.RTT, c.BytesSent, c.BytesReceived = st.RTT, st.BytesSent, st.BytesReceived
		c.Score = r.scoreOf(n.id).value(&r.opts.Score)
		out = append(out, c)
		sessions = append(sessions, n.s)
	}
	r.mu.Unlock()
	// The path's statistics come from the link (pion's report), outside
	// the room's lock.
	for i, s := range sessions {
		if ps, ok := s.Path(); ok {
			out[i].ChecksSent, out[i].ChecksAnswered = ps.ChecksSent, ps.ChecksAnswered
			out[i].Loss, out[i].LossKnown = ps.Loss()
		}
	}
	return out
}

// Score returns this member's score of id (0 for an identity it knows
// nothing of).
func (r *Room) Score(id identity.ID) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.scores[id]; ok {
		return s.value(&r.opts.Score)
	}
	return 0
}

// Publish signs data as a room message and sends it to the neighbours.
// It waits, as long as ctx allows, while this member is over its own
// budget (a little under what the others allow it) and while more than
// half of its neighbours have no room in their send queues.
func (r *Room) Publish(ctx context.Context, data []byte) (MessageID, error) {
	if len(data) > MaxPayload {
		return MessageID{}, ErrTooLarge
	}
	if err := r.own.Wait(ctx); err != nil {
		return MessageID{}, err
	}
	if err := r.ownB.WaitN(ctx, max(1, len(data))); err != nil {
		return MessageID{}, err
	}
	if err := r.waitRoom(ctx, len(data)+2+msgHeader+64); err != nil {
		return MessageID{}, err
	}
	return r.publish(data)
}

// publish sends a message with no budget of its own.
func (r *Room) publish(data []byte) (MessageID, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return MessageID{}, ErrClosed
	}
	if !r.members.isMember(r.self.ID()) {
		return MessageID{}, ErrRemoved
	}
	now := r.opts.Now()
	r.seq++
	m := message{room: r.rid, origin: r.self.ID(), seq: r.seq, time: now.UnixMilli(), payload: append([]byte(nil), data...)}
	copy(m.sig[:], r.self.Sign(ContextMessage, m.signed()))
	id := m.id()
	f := publishFrame(&m, 0)
	r.remember(id, f, now)
	r.originOf(m.origin).mark(m.seq)
	r.stats.Published++
	// Own messages go to every neighbour in good standing, in the mesh or
	// not (gossipsub v1.1's flood publishing): a mesh of sybils around a
	// member cannot hide its messages.
	for _, n := range r.neigh {
		if n.hello && r.scoreOf(n.id).value(&r.opts.Score) >= 0 && r.send(n, f, true) {
			r.markHave(id, n.id)
		}
	}
	return id, nil
}

// waitRoom waits until at least half of the neighbours have room in their
// queues for a frame of size bytes: a publisher goes at the pace of its
// faster neighbours, never of the slowest (which drop what does not fit,
// and get an IHAVE for it instead).
func (r *Room) waitRoom(ctx context.Context, size int) error {
	for {
		r.mu.Lock()
		free, total := 0, 0
		for _, n := range r.neigh {
			if !n.hello {
				continue
			}
			total++
			if n.room(size, r.opts.QueueBytes) {
				free++
			}
		}
		closed := r.closed
		r.mu.Unlock()
		if closed || 2*free >= total {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

// Next returns the next event. It returns ErrClosed once the room is
// closed and every event read (or ErrRemoved when this member was
// removed).
func (r *Room) Next(ctx context.Context) (Event, error) {
	for {
		r.mu.Lock()
		if len(r.evq) > 0 {
			e := r.evq[0]
			r.evq[0] = Event{}
			r.evq = r.evq[1:]
			r.mu.Unlock()
			return e, nil
		}
		closed, err := r.closed, r.err
		r.mu.Unlock()
		if closed {
			if err == nil {
				err = ErrClosed
			}
			return Event{}, err
		}
		select {
		case <-r.evwk:
		case <-r.endCh:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}

// event queues an event; r.mu is held.
func (r *Room) event(e Event) {
	if len(r.evq) >= r.opts.Events {
		r.stats.EventsDropped++
		return
	}
	r.evq = append(r.evq, e)
	select {
	case r.evwk <- struct{}{}:
	default:
	}
}

// Remove removes a member (creator only): it signs a removal record and
// sends it through the room. Everyone admitted only through that member
// is removed with it.
func (r *Room) Remove(member identity.ID) error {
	if r.self.ID() != r.desc.creator {
		return ErrNotCreator
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	rec := newRecord(recordRemove, r.rid, r.self, member, r.opts.Now())
	return r.takeRecords([]record{rec}, nil)
}

// Close leaves the room: it closes every session and waits for the
// room's goroutines. Membership is unchanged: the member may come back
// with another invitation.
func (r *Room) Close() error {
	r.shutdown(nil)
	r.wg.Wait()
	return nil
}

func (r *Room) shutdown(err error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	r.err = err
	ns := make([]*neighbour, 0, len(r.neigh))
	for _, n := range r.neigh {
		ns = append(ns, n)
	}
	for _, p := range r.intros {
		if p.inv != nil {
			p.inv.Close()
		}
	}
	r.intros = map[identity.ID]*pendingIntro{}
	r.mu.Unlock()
	close(r.endCh)
	r.stop()
	for _, n := range ns {
		n.closeQueue()
		n.s.Close()
	}
}

// sessionOptions are the base options of the room's sessions.
func (r *Room) sessionOptions() session.Options { return roomSession(r.opts) }

// roomSession makes the session options of a room's sessions: no message
// larger than a frame is taken in, and reassembly holds at most four.
func roomSession(opts Options) session.Options {
	o := opts.Session
	if o.Logger == nil {
		o.Logger = opts.Logger
	}
	if o.Seal.MaxMessageSize <= 0 || o.Seal.MaxMessageSize > MaxFrame {
		o.Seal.MaxMessageSize = MaxFrame
	}
	if o.Seal.MaxReassemblyBytes <= 0 {
		o.Seal.MaxReassemblyBytes = 4 * MaxFrame
	}
	return o
}
