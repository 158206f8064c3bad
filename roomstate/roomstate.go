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
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"slices"
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
	Poll time.Duration
	// Housekeeping is how often this member acknowledges what it holds
	// (an op: compaction waits for every member's) and compacts its file
	// (default 10 minutes; negative: never).
	Housekeeping time.Duration
	Logger       *slog.Logger
}

// Sync is the state sync of one member of one room.
type Sync struct {
	opts Options

	mu      sync.Mutex
	room    *room.Room
	rep     *state.Replica
	early   []frame
	earlyB  int
	peers   map[identity.ID]*peer
	closed  bool
	members [32]byte // a digest of the room's members at the last round
	acked   int      // ops held at the last acknowledgement

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
	if o.Housekeeping == 0 {
		o.Housekeeping = 10 * time.Minute
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
// signatures, operations of another room, cutoffs not by the creator,
// fork evidence that proves no fork. Other refusals (an author not a
// member yet or any more, a time ahead of this member's clock, a fork) can
// come from an honest neighbour whose view differs for a moment: they are
// counted in the peer's Stats only.
func provablyBad(st state.Stats) int {
	return st.Refused[state.ErrMalformed] + st.Refused[state.ErrBadSignature] + st.Refused[state.ErrWrongRoom] +
		st.Refused[state.ErrNotCreator] + st.Refused[state.ErrBadEvidence]
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
	var house <-chan time.Time
	if s.opts.Housekeeping > 0 {
		h := time.NewTicker(s.opts.Housekeeping)
		defer h.Stop()
		house = h.C
	}
	for {
		s.round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-t.C:
		case <-house:
			s.housekeeping()
		}
	}
}

// housekeeping acknowledges what this member holds, if that grew, and
// compacts what every member has acknowledged.
func (s *Sync) housekeeping() {
	s.mu.Lock()
	rep, last := s.rep, s.acked
	s.mu.Unlock()
	if n := rep.Ops(); n > last+1 && s.CaughtUp() {
		if _, err := rep.Acknowledge(); err != nil {
			s.opts.Logger.Debug("state sync: acknowledging", "err", err)
		}
		s.mu.Lock()
		s.acked = rep.Ops()
		s.mu.Unlock()
	}
	if _, err := rep.Compact(); err != nil {
		s.opts.Logger.Debug("state sync: compacting", "err", err)
	}
}

// CaughtUp reports whether no neighbour holds more of this member's own
// log than this member does (state.Peer.Behind): a member whose file lost
// its newest ops gets them back from its neighbours, and must not write
// before, or it would fork its own log.
func (s *Sync) CaughtUp() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.peers {
		if p.p.Behind() {
			return false
		}
	}
	return true
}

// WaitCaughtUp waits until CaughtUp, or until ctx ends (a neighbour that
// claims more than it sends would hold the wait forever: give ctx a
// deadline). Call it before writing.
func (s *Sync) WaitCaughtUp(ctx context.Context) error {
	for !s.CaughtUp() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// round matches the engines to the room's neighbours, polls them, and
// sends what waits.
func (s *Sync) round(ctx context.Context) {
	neighbours := map[identity.ID]bool{}
	for _, n := range s.room.Neighbours() {
		neighbours[n.ID] = true
	}
	members := s.room.Members()
	slices.SortFunc(members, func(a, b identity.ID) int { return bytes.Compare(a[:], b[:]) })
	h := sha256.New()
	for _, m := range members {
		h.Write(m[:])
	}
	var digest [32]byte
	h.Sum(digest[:0])
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
	// New members: ops of theirs refused before their admission arrived
	// are asked for again at once.
	changed := s.members != [32]byte{} && digest != s.members // not at the first round
	s.members = digest
	for id := range neighbours {
		p := s.peerLocked(id)
		if changed || now.After(p.resync) {
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
