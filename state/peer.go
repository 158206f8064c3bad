package state

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/sp2p/sp2p/identity"
)

// Budget bounds what a [Peer] sends. Zero fields take the defaults.
type Budget struct {
	// BatchBytes bounds one OPS frame (default 128 KiB, at most MaxFrame).
	BatchBytes int
	// RoundBytes bounds what one call to Poll or Receive returns (default
	// 512 KiB; at least one frame is returned when anything is due).
	RoundBytes int
	// Window bounds the OPS frames sent and not yet acknowledged (default
	// 4): the backpressure of a neighbour that does not keep up.
	Window int
}

func (b Budget) withDefaults() Budget {
	if b.BatchBytes <= 0 || b.BatchBytes > MaxFrame {
		b.BatchBytes = 128 << 10
	}
	if b.RoundBytes <= 0 {
		b.RoundBytes = 512 << 10
	}
	if b.Window <= 0 {
		b.Window = 4
	}
	return b
}

// Stats counts what a peer exchanged with its neighbour.
type Stats struct {
	FramesIn, FramesOut int
	BytesIn, BytesOut   int
	OpsIn, OpsOut       int // ops received (valid or not) and sent
	OpsTaken            int // received ops that were new
	StaleAcks           int // ACKs outside the window (after a loss or a HELLO), ignored
	// Refused counts the neighbour's refused ops and frames by reason:
	// the sentinel error (ErrBadSignature, ErrNotMember, ErrMalformed…).
	Refused map[error]int
}

var reasons = []error{ErrMalformed, ErrBadSignature, ErrWrongRoom, ErrNotMember, ErrRemoved,
	ErrFuture, ErrBrokenChain, ErrForked, ErrNotCreator, ErrTooManyAuthors, ErrBadEvidence}

func reason(err error) error {
	for _, r := range reasons {
		if errors.Is(err, r) {
			return r
		}
	}
	return err
}

// Peer is the sync engine with one neighbour: a state machine without I/O.
// Feed it the neighbour's frames with Receive, send what it returns, and
// call Poll when the replica has taken in new ops (see [Config.OnOp]) to
// get the live updates. Sync runs again from the start on a new Peer (after
// a reconnection): state vectors make it send only what the neighbour does
// not hold. It is safe for concurrent use.
type Peer struct {
	r      *Replica
	id     identity.ID
	budget Budget

	mu        sync.Mutex
	helloSent bool
	helloSeen bool
	known     map[identity.ID]uint64 // how far the neighbour holds each log
	claimed   map[identity.ID]uint64 // what its last HELLO said it holds
	mismatch  map[identity.ID]uint64 // the neighbour's head differs from ours there
	evSent    map[identity.ID]uint64 // fork point of the evidence sent
	nextBatch uint32                 // the number of the next OPS frame
	acked     uint32                 // batches acknowledged
	stats     Stats
}

// NewPeer returns the sync engine with the neighbour id (for counting).
func (r *Replica) NewPeer(id identity.ID, b Budget) *Peer {
	return &Peer{
		r: r, id: id, budget: b.withDefaults(),
		known: map[identity.ID]uint64{}, claimed: map[identity.ID]uint64{}, mismatch: map[identity.ID]uint64{},
		evSent:    map[identity.ID]uint64{},
		nextBatch: 1, stats: Stats{Refused: map[error]int{}},
	}
}

// Neighbour returns the identity the peer syncs with.
func (p *Peer) Neighbour() identity.ID { return p.id }

// Stats returns a copy of the peer's counters.
func (p *Peer) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Refused = make(map[error]int, len(p.stats.Refused))
	for k, v := range p.stats.Refused {
		s.Refused[k] = v
	}
	return s
}

func (p *Peer) refuse(err error) {
	p.stats.Refused[reason(err)]++
}

// Receive takes one frame from the neighbour and returns the frames to
// send back (within the budget). An error means the frame was malformed
// or broke the protocol; it is also counted. Refused ops are not errors:
// they are counted in [Peer.Stats].
func (p *Peer) Receive(b []byte) ([][]byte, error) {
	p.mu.Lock()
	p.stats.FramesIn++
	p.stats.BytesIn += len(b)
	p.mu.Unlock()
	f, err := decodeFrame(b)
	if err != nil {
		p.mu.Lock()
		p.refuse(err)
		p.mu.Unlock()
		return nil, err
	}
	var reply [][]byte
	switch f.typ {
	case frameHello:
		if f.room != p.r.cfg.Room {
			err = fmt.Errorf("%w: HELLO of another room", ErrWrongRoom)
			break
		}
		p.takeHello(f.hello)
	case frameOps:
		n, res, ferr := p.r.take(f.ops)
		err = ferr // the replica's own file, not the neighbour's doing
		p.mu.Lock()
		p.stats.OpsIn += len(f.ops)
		p.stats.OpsTaken += n
		for i, e := range res {
			switch {
			case e == nil:
				if op := f.ops[i]; op.Seq > p.known[op.Author] {
					p.known[op.Author] = op.Seq
				}
			case !errors.Is(e, ErrClosed):
				p.refuse(e)
			}
		}
		p.mu.Unlock()
		reply = append(reply, encodeAck(f.batch))
	case frameAck:
		// Cumulative: an ACK of batch k acknowledges every batch up to k.
		// One outside the window (from before a HELLO reset it, or for a
		// batch whose frames were lost on the way) is ignored, not an
		// error: an honest neighbour sends those after a loss.
		p.mu.Lock()
		if f.batch > p.acked && f.batch < p.nextBatch {
			p.acked = f.batch
		} else {
			p.stats.StaleAcks++
		}
		p.mu.Unlock()
	case frameEvidence:
		p.r.mu.Lock()
		err = ErrClosed
		if !p.r.closed {
			err = p.r.takeEvidence(f.evA, f.evB)
		}
		if err == nil {
			err = p.r.flush()
		}
		p.r.unlock()
	}
	if err != nil {
		if f.typ != frameOps {
			p.mu.Lock()
			p.refuse(err)
			p.mu.Unlock()
		}
		return p.account(reply), err
	}
	return append(p.account(reply), p.Poll()...), nil
}

func (p *Peer) account(frames [][]byte) [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range frames {
		p.stats.FramesOut++
		p.stats.BytesOut += len(f)
	}
	return frames
}

// takeHello reads the neighbour's state vector: how far it holds each
// log. A head that differs from this replica's op at the same place is a
// possible fork: that op is sent, so the neighbour can prove it.
func (p *Peer) takeHello(vec []Entry) {
	p.r.mu.Lock()
	defer p.r.mu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.helloSeen = true
	// The vector says exactly what the neighbour holds: what it lost
	// (dropped frames, a cut file) is sent again, and the OPS frames
	// still unacknowledged are forgotten (their ACKs, if they come, are
	// ignored), so that a lost frame never holds the window shut.
	clear(p.known)
	clear(p.claimed)
	clear(p.mismatch)
	p.acked = p.nextBatch - 1
	for _, e := range vec {
		p.known[e.Author] = e.Seq
		p.claimed[e.Author] = e.Seq
		if l := p.r.logs[e.Author]; l != nil && e.Seq <= uint64(len(l.ops)) && l.ops[e.Seq-1].hash != e.Head {
			p.mismatch[e.Author] = e.Seq
		}
	}
}

// Behind reports whether the neighbour's last state vector holds more of
// this replica's own log than the replica does: the replica lost its own
// newest ops (see SECURITY.md) and sync is bringing them back. Before the
// neighbour's first HELLO it reports true. A member should not write while
// a neighbour is ahead of it; a neighbour that claims more than it then
// sends is lying, and the caller should stop waiting for it after a while.
func (p *Peer) Behind() bool {
	p.r.mu.Lock()
	defer p.r.mu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.helloSeen {
		return true
	}
	self := p.r.cfg.Self.ID()
	held := uint64(0)
	if l := p.r.logs[self]; l != nil {
		held = uint64(len(l.ops))
	}
	return p.claimed[self] > held
}

// Start returns the first frame: this replica's state vector.
func (p *Peer) Start() [][]byte { return p.Poll() }

// Resync returns this replica's state vector again, so that the neighbour
// sends what this replica lost or refused; the room sends one now and then
// (every 30 s is plenty) and after taking in membership records.
func (p *Peer) Resync() [][]byte {
	p.mu.Lock()
	p.helloSent = false
	p.mu.Unlock()
	return p.Poll()
}

// Synced reports whether the neighbour said how far it is and holds, as
// far as this peer knows, everything this replica holds.
func (p *Peer) Synced() bool {
	p.r.mu.Lock()
	defer p.r.mu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.helloSeen {
		return false
	}
	for a, l := range p.r.logs {
		if p.r.offered(a, l) > p.known[a] {
			return false
		}
	}
	return true
}

// Poll returns the frames due to the neighbour, within the budget: first
// the state vector, then fork evidence, then the ops the
// neighbour does not hold, in per-author order, while fewer than Window
// OPS frames wait for their acknowledgement.
func (p *Peer) Poll() [][]byte {
	p.r.mu.Lock()
	p.mu.Lock()
	out := p.pollLocked()
	p.mu.Unlock()
	p.r.mu.Unlock()
	return p.account(out)
}

func (p *Peer) pollLocked() [][]byte {
	var out [][]byte
	if !p.helloSent {
		p.helloSent = true
		out = append(out, encodeHello(p.r.cfg.Room, p.r.vectorLocked()))
	}
	authors := make([]identity.ID, 0, len(p.r.logs))
	for a := range p.r.logs {
		authors = append(authors, a)
	}
	sort.Slice(authors, func(i, j int) bool { return bytes.Compare(authors[i][:], authors[j][:]) < 0 })
	for _, a := range authors {
		l := p.r.logs[a]
		if l.evidence != nil && p.evSent[a] != l.forkAt {
			p.evSent[a] = l.forkAt
			out = append(out, append([]byte{frameEvidence}, encodeEvidence(l.evidence)...))
		}
	}
	size := 0
	for _, f := range out {
		size += len(f)
	}
	var cur *opsFrame
	full := false
	add := func(op *Op) bool {
		if cur != nil && !cur.fits(op, p.budget.BatchBytes) {
			size += len(cur.b)
			out = append(out, cur.bytes())
			cur = nil
		}
		if cur == nil {
			if p.nextBatch-1-p.acked >= uint32(p.budget.Window) || (size >= p.budget.RoundBytes && len(out) > 0) {
				full = true
				return false
			}
			cur = newOpsFrame(p.nextBatch)
			p.nextBatch++
		}
		cur.add(op)
		p.stats.OpsOut++
		return true
	}
	// First the ops that show a mismatched head (a possible fork).
	for _, a := range authors {
		if s, ok := p.mismatch[a]; ok && !full {
			if l := p.r.logs[a]; s <= uint64(len(l.ops)) && !add(l.ops[s-1]) {
				break
			}
			delete(p.mismatch, a)
		}
	}
	if p.helloSeen {
		for _, a := range authors {
			l := p.r.logs[a]
			for n := p.r.offered(a, l); !full && p.known[a] < n; {
				if !add(l.ops[p.known[a]]) {
					break
				}
				p.known[a]++
			}
			if full {
				break
			}
		}
	}
	if cur != nil {
		out = append(out, cur.bytes())
	}
	return out
}

// offered returns how many of a's ops sync offers: those that count, and
// none of a former member without a cutoff (the neighbour would refuse
// them; the cutoff may still be on its way).
func (r *Replica) offered(a identity.ID, l *authorLog) uint64 {
	if l.cutoff == nil && !r.cfg.Members.IsMember(a) {
		return 0
	}
	return l.sendable()
}
