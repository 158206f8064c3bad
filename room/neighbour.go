package room

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/session"
)

// PathType says how a neighbour's session reaches it, as far as the
// candidates of its tokens tell.
type PathType int

// Path types.
const (
	// PathDirect: both sides offered candidates other than relays, so the
	// connection is (most likely) direct.
	PathDirect PathType = iota + 1
	// PathRelay: one side offered relay candidates only: the traffic
	// goes through a TURN server.
	PathRelay
)

func (p PathType) String() string {
	switch p {
	case PathDirect:
		return "direct"
	case PathRelay:
		return "relay"
	}
	return "unknown"
}

func pathOf(o *invite.Offer, a *invite.Answer) PathType {
	relayOnly := func(cs []invite.Candidate) bool {
		for _, c := range cs {
			if c.Type != invite.Relay {
				return false
			}
		}
		return len(cs) > 0
	}
	if relayOnly(o.Conn.Candidates) || relayOnly(a.Conn.Candidates) {
		return PathRelay
	}
	return PathDirect
}

// Neighbour is the health of one neighbour: a member this one has a
// session with.
type Neighbour struct {
	ID    identity.ID
	Mesh  bool    // in the mesh (gets every message), or only IHAVEs
	Score float64 // this member's score of it (SECURITY.md, "Scoring")
	Path  PathType
	Since time.Time
	RTT   time.Duration // the session's last measured round trip

	// Loss is the fraction (0 to 1) of the connectivity checks on the
	// network path that went unanswered, of ChecksSent (ICE sends one
	// about every 2 s while the path is idle); LossKnown is false when no
	// check was sent yet or the link has no network path (in memory).
	Loss                       float64
	LossKnown                  bool
	ChecksSent, ChecksAnswered uint64

	BytesSent, BytesReceived uint64 // application bytes of the session
	// FirstDeliveries counts the messages it was first to deliver,
	// Duplicates those it delivered after another, Invalid what it sent
	// that was dropped as invalid, RateViolations its own messages over
	// its budget, BrokenPromises its IWANT answers that lacked an ID it had
	// announced.
	FirstDeliveries, Duplicates, Invalid, RateViolations, BrokenPromises uint64
	// QueueDrops counts the gossip frames dropped because its send queue
	// was full (it reads too slowly).
	QueueDrops uint64
}

// neighbour is one session of the room and its send queue.
type neighbour struct {
	id      identity.ID
	s       *session.Session
	inviter identity.ID // who invited in this session's handshake
	path    PathType
	since   time.Time

	admitted bool // this member admitted it into the room (set once, before it is shared)

	// Guarded by Room.mu.
	mesh       bool
	hello      bool // its HELLO (or, for the admitter, nothing is awaited) arrived
	closing    bool
	counters   Neighbour
	iwantLeft  int       // IWANT IDs it may still ask for in this heartbeat
	iwantBytes int       // and the bytes of their answers
	relayed    int       // introduction and resume-hint frames relayed for it in this heartbeat
	hinted     time.Time // the start of the move whose resume token was sent to the others

	qmu     sync.Mutex
	q       [][]byte
	qbytes  int
	qclosed bool
	drain   bool // close once the queue is sent
	wake    chan struct{}
}

func newNeighbour(id identity.ID, s *session.Session, inviter identity.ID, path PathType, now time.Time) *neighbour {
	return &neighbour{id: id, s: s, inviter: inviter, path: path, since: now, wake: make(chan struct{}, 1)}
}

var (
	errTooSlow = errors.New("room: the neighbour reads too slowly")
	errDrained = errors.New("room: the last frames to the neighbour are sent")
)

// enqueue queues a frame for the neighbour. Gossip (droppable) beyond
// limit bytes is dropped and reported false; control frames are kept up
// to 4 times the limit, and beyond that the neighbour is too slow.
func (n *neighbour) enqueue(b []byte, droppable bool, limit int) (bool, error) {
	n.qmu.Lock()
	defer n.qmu.Unlock()
	if n.qclosed || n.drain {
		return false, nil
	}
	if droppable && n.qbytes+len(b) > limit {
		return false, nil
	}
	if n.qbytes+len(b) > 4*limit {
		return false, errTooSlow
	}
	n.q = append(n.q, b)
	n.qbytes += len(b)
	select {
	case n.wake <- struct{}{}:
	default:
	}
	return true, nil
}

// closeAfterFlush takes no more frames and ends the session once the
// queued ones are sent.
func (n *neighbour) closeAfterFlush() {
	n.qmu.Lock()
	n.drain = true
	n.qmu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// room reports whether a gossip frame of size bytes would be queued.
func (n *neighbour) room(size, limit int) bool {
	n.qmu.Lock()
	defer n.qmu.Unlock()
	return n.qbytes+size <= limit
}

func (n *neighbour) closeQueue() {
	n.qmu.Lock()
	n.qclosed = true
	n.q = nil
	n.qbytes = 0
	n.qmu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// writeLoop hands queued frames to the session, one at a time.
func (n *neighbour) writeLoop(ctx context.Context) error {
	for {
		n.qmu.Lock()
		if n.qclosed {
			n.qmu.Unlock()
			return nil
		}
		if len(n.q) == 0 && n.drain {
			n.qmu.Unlock()
			return errDrained
		}
		if len(n.q) == 0 {
			n.qmu.Unlock()
			select {
			case <-n.wake:
				continue
			case <-ctx.Done():
				return nil
			case <-n.s.Done():
				return n.s.Err()
			}
		}
		b := n.q[0]
		n.q[0] = nil
		n.q = n.q[1:]
		n.qmu.Unlock()
		err := n.s.Send(ctx, b)
		n.qmu.Lock()
		n.qbytes -= len(b)
		n.qmu.Unlock()
		if err != nil {
			return err
		}
	}
}
