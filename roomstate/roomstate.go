// Package roomstate runs the sync of a room's replicated state (package
// state) over the room's sessions: one state.Peer per neighbour, its frames
// carried in the room's DIRECT frames on channel Channel. Sync starts when a
// session with a neighbour opens (and so again after every reconnection),
// and the ops each member makes flow on to its neighbours as they are taken
// in, so every member ends up with every op whatever the order or the gaps.
//
// Make the Sync first and put its Handler in the room's options, then
// attach the replica once the room and the replica exist:
//
//	sy := roomstate.New()
//	opts.Direct = map[byte]room.DirectHandler{roomstate.Channel: sy.Handler}
//	r, _ := room.Create(id, "club", opts)
//	rep, _ := state.Open(dir, state.Config{Room: r.ID(), Self: id, Members: r, OnOp: sy.OnOp})
//	sy.Attach(r, rep)
//	defer sy.Close()
package roomstate

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/room"
	"github.com/sp2p/sp2p/state"
)

// Channel is the room's DIRECT channel of the state sync.
const Channel byte = 1

// Bounds of what waits in memory.
const (
	// MaxEarly bounds the bytes of the frames that arrive before Attach
	// (a neighbour may start syncing before this member has opened its
	// replica); beyond it they are dropped, and the sync that starts at
	// Attach asks again for what they held.
	MaxEarly = 4 << 20
	// MaxOutbox bounds the bytes of the frames waiting to be sent to one
	// neighbour; beyond it the neighbour's sync starts over.
	MaxOutbox = 8 << 20
)

// Options of a Sync.
type Options struct {
	// Budget bounds each neighbour's sync (see state.Budget).
	Budget state.Budget
	// Resync is how often each neighbour is sent this replica's state
	// vector again, so that anything lost or refused is asked for again
	// (default 30 s).
	Resync time.Duration
	// Poll is how often the neighbours are compared with the room's
	// (default 200 ms).
	Poll   time.Duration
	Logger *slog.Logger
}

// Sync is the state sync of one member of one room.
type Sync struct {
	opts Options

	mu     sync.Mutex
	room   *room.Room
	rep    *state.Replica
	early  []frame
	earlyB int
	peers  map[identity.ID]*peer
	closed bool

	wake chan struct{}
	stop context.CancelFunc
	done chan struct{}
}

type frame struct {
	from identity.ID
	data []byte
}

// peer is one neighbour's sync engine and what waits to go to it.
type peer struct {
	p       *state.Peer
	out     [][]byte
	outB    int
	resync  time.Time
	started bool
}

// New makes a Sync with the default options.
func New() *Sync { return NewWithOptions(Options{}) }

// NewWithOptions makes a Sync.
func NewWithOptions(o Options) *Sync {
	if o.Resync <= 0 {
		o.Resync = 30 * time.Second
	}
	if o.Poll <= 0 {
		o.Poll = 200 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Sync{opts: o, peers: map[identity.ID]*peer{}, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// Handler is the room's DIRECT handler for Channel. It never waits: what a
// frame calls for is queued and sent by the Sync's own goroutine.
func (s *Sync) Handler(from identity.ID, data []byte) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if s.rep == nil {
		if s.earlyB+len(data) <= MaxEarly {
			s.early = append(s.early, frame{from, data})
			s.earlyB += len(data)
		}
		s.mu.Unlock()
		return
	}
	bad, why := s.receiveLocked(from, data)
	r := s.room
	s.mu.Unlock()
	if bad > 0 {
		r.Penalize(from, bad, why)
	}
}

// OnOp is the replica's state.Config.OnOp: an op was taken in (made here
// or received), so the neighbours may have something new to get.
func (s *Sync) OnOp(*state.Op) { s.kick() }

func (s *Sync) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Attach starts the sync of rep over r.
func (s *Sync) Attach(r *room.Room, rep *state.Replica) {
	s.mu.Lock()
	if s.rep != nil || s.closed {
		s.mu.Unlock()
		return
	}
	s.room, s.rep = r, rep
	early := s.early
	s.early, s.earlyB = nil, 0
	type penalty struct {
		id  identity.ID
		n   int
		why error
	}
	var penalties []penalty
	for _, f := range early {
		if n, why := s.receiveLocked(f.from, f.data); n > 0 {
			penalties = append(penalties, penalty{f.from, n, why})
		}
	}
	ctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.mu.Unlock()
	for _, p := range penalties {
		r.Penalize(p.id, p.n, p.why)
	}
	go s.loop(ctx)
}

// Close stops the sync; it does not close the room or the replica.
func (s *Sync) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	stop := s.stop
	s.mu.Unlock()
	if stop != nil {
		stop()
		<-s.done
	}
}

// Stats returns each neighbour's sync counters.
func (s *Sync) Stats() map[identity.ID]state.Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[identity.ID]state.Stats, len(s.peers))
	for id, p := range s.peers {
		out[id] = p.p.Stats()
	}
	return out
}

// peerLocked returns the neighbour's engine, made (and started) at its
// first frame or when its session opens.
func (s *Sync) peerLocked(id identity.ID) *peer {
	p := s.peers[id]
	if p == nil {
		p = &peer{p: s.rep.NewPeer(id, s.opts.Budget), resync: time.Now().Add(s.opts.Resync)}
		s.peers[id] = p
	}
	if !p.started {
		p.started = true
		s.queueLocked(id, p, p.p.Start())
	}
	return p
}

// receiveLocked feeds a frame to the neighbour's engine and returns how
// many things it held that the neighbour cannot have checked, to be
// counted against it by the room.
func (s *Sync) receiveLocked(from identity.ID, data []byte) (bad int, why error) {
	p := s.peerLocked(from)
	before := provablyBad(p.p.Stats())
	replies, err := p.p.Receive(data)
	if err != nil {
		s.opts.Logger.Debug("state sync: a bad frame", "peer", from.Fingerprint(), "err", err)
	}
	if n := provablyBad(p.p.Stats()) - before; n > 0 {
		bad, why = n, errRefused
	}
	s.queueLocked(from, p, replies)
	return bad, why
}

var errRefused = errors.New("roomstate: the neighbour sent state it cannot have checked (malformed, a bad signature, another room)")

// provablyBad counts what the neighbour sent that it cannot have taken in
// itself, so that it is its own fault: malformed frames or operations, bad
// signatures, operations of another room. Other refusals (an author not a
// member yet or any more, a time ahead of this member's clock, a fork) can
// come from an honest neighbour whose view differs for a moment: they are
// counted in the peer's Stats only.
func provablyBad(st state.Stats) int {
	return st.Refused[state.ErrMalformed] + st.Refused[state.ErrBadSignature] + st.Refused[state.ErrWrongRoom]
}

func (s *Sync) queueLocked(id identity.ID, p *peer, frames [][]byte) {
	for _, f := range frames {
		if p.outB+len(f) > MaxOutbox {
			// The neighbour does not keep up: start over with it (state
			// vectors make the new start send only what it lacks).
			s.opts.Logger.Debug("state sync: the neighbour's outbox is full; starting over", "peer", id.Fingerprint())
			delete(s.peers, id)
			return
		}
		p.out = append(p.out, f)
		p.outB += len(f)
	}
	if len(frames) > 0 {
		s.kick()
	}
}

func (s *Sync) loop(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.opts.Poll)
	defer t.Stop()
	for {
		s.round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-t.C:
		}
	}
}

// round matches the engines to the room's neighbours, polls them, and
// sends what waits.
func (s *Sync) round(ctx context.Context) {
	neighbours := map[identity.ID]bool{}
	for _, n := range s.room.Neighbours() {
		neighbours[n.ID] = true
	}
	now := time.Now()
	type batch struct {
		id     identity.ID
		frames [][]byte
	}
	var sends []batch
	s.mu.Lock()
	for id := range s.peers {
		if !neighbours[id] {
			delete(s.peers, id) // its session ended: a new one syncs anew
		}
	}
	for id := range neighbours {
		p := s.peerLocked(id)
		if now.After(p.resync) {
			p.resync = now.Add(s.opts.Resync)
			s.queueLocked(id, p, p.p.Resync())
		} else {
			s.queueLocked(id, p, p.p.Poll())
		}
		if p := s.peers[id]; p != nil && len(p.out) > 0 {
			sends = append(sends, batch{id, p.out})
			p.out, p.outB = nil, 0
		}
	}
	s.mu.Unlock()
	for _, b := range sends {
		for _, f := range b.frames {
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := s.room.SendDirect(sctx, b.id, Channel, f)
			cancel()
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					s.opts.Logger.Debug("state sync: sending", "peer", b.id.Fingerprint(), "err", err)
				}
				s.mu.Lock()
				delete(s.peers, b.id) // start over with it if it is still there
				s.mu.Unlock()
				break
			}
		}
	}
}
