package room

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/time/rate"

	"github.com/sp2p/sp2p/identity"
)

// Direct frames carry an application's own protocol between two
// neighbours (for example the sync of replicated state): unsigned beyond
// the session they travel on, never forwarded, and charged to the sending
// neighbour's byte budget.

// MaxDirect bounds a direct frame's payload in bytes.
const MaxDirect = MaxFrame - 6

// directCost is what each direct frame costs its sender's budget beyond
// its payload, in bytes.
const directCost = 64

// ErrNotNeighbour is returned by SendDirect for a member this one has no
// open session with.
var ErrNotNeighbour = errors.New("room: not a neighbour")

// DirectHandler receives the direct frames of one channel: from is the
// neighbour that sent data (authenticated by its session). It runs on
// that neighbour's reading goroutine, so while it runs nothing more is
// read from that neighbour: it must be quick and must not wait, neither
// for that neighbour (SendDirect to it may block until it reads, which
// can be never while both sides wait) nor for the room (Close waits for
// the goroutine the handler runs on). Queue the work and do it elsewhere.
type DirectHandler func(from identity.ID, data []byte)

func directFrame(channel byte, data []byte) []byte {
	b := make([]byte, 0, 6+len(data))
	b = append(b, frameDirect, channel)
	b = append(b, byte(len(data)>>24), byte(len(data)>>16), byte(len(data)>>8), byte(len(data)))
	return append(b, data...)
}

// SendDirect sends data to the neighbour to on the application channel
// channel (1 to 255; each has its handler in Options.Direct). It waits,
// until ctx ends, while that neighbour's send queue is full, so a sender
// goes at the pace the neighbour reads, and to stay within 80 % of the
// DIRECT budget the neighbour counts (see Options.Budget), so that what
// it sends is not dropped as over the budget.
func (r *Room) SendDirect(ctx context.Context, to identity.ID, channel byte, data []byte) error {
	if len(data) > MaxDirect {
		return fmt.Errorf("%w: a direct frame has at most %d bytes", ErrTooLarge, MaxDirect)
	}
	if channel == 0 {
		return errors.New("room: direct channel 0 is reserved")
	}
	f := directFrame(channel, data)
	// Paced to 80 % of the budget every member charges its senders (and
	// half its burst), as for publishing: an honest sender never trips
	// its neighbours' limits, and what it sends is never dropped for it.
	r.mu.Lock()
	out := r.directOut[to]
	if out == nil {
		if r.directOut == nil {
			r.directOut = map[identity.ID]*rate.Limiter{}
		}
		b := r.opts.Budget
		out = rate.NewLimiter(rate.Limit(b.BytesPerSecond*0.8), max(b.ByteBurst/2, MaxFrame+directCost))
		r.directOut[to] = out
	}
	r.mu.Unlock()
	if err := out.WaitN(ctx, len(data)+directCost); err != nil {
		return err
	}
	for {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return ErrClosed
		}
		n := r.neigh[to]
		if n == nil || !n.hello || n.closing {
			r.mu.Unlock()
			return fmt.Errorf("%w: %s", ErrNotNeighbour, to.Fingerprint())
		}
		if n.room(len(f), r.opts.QueueBytes) {
			ok := r.send(n, f, false)
			r.mu.Unlock()
			if !ok {
				return fmt.Errorf("%w: %s", ErrNotNeighbour, to.Fingerprint())
			}
			return nil
		}
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.endCh:
			return ErrClosed
		case <-time.After(time.Millisecond):
		}
	}
}

// onDirect takes a direct frame from n; r.mu is held, and released while
// the handler runs.
func (r *Room) onDirect(n *neighbour, f *frame) {
	h := r.opts.Direct[f.channel]
	if h == nil {
		r.invalid(n, &r.stats.Malformed, fmt.Errorf("direct frame on channel %d, which this member does not use", f.channel))
		return
	}
	// The budget is the sender identity's, whichever session it comes
	// on (a reconnection does not refill it): the room's byte rate, a
	// burst of at least one whole frame, and each frame charged its
	// payload and directCost bytes (so that empty frames are not free).
	lim := r.directLim[n.id]
	if lim == nil {
		if r.directLim == nil {
			r.directLim = map[identity.ID]*rate.Limiter{}
		}
		b := r.opts.Budget
		lim = rate.NewLimiter(rate.Limit(b.BytesPerSecond), max(b.ByteBurst, MaxFrame+directCost))
		r.directLim[n.id] = lim
	}
	if !lim.AllowN(r.opts.Now(), len(f.direct)+directCost) {
		r.stats.OverBudget++
		n.counters.RateViolations++
		s := r.scoreOf(n.id)
		s.rate++
		r.checkScore(n, s)
		return
	}
	r.mu.Unlock()
	h(n.id, f.direct)
	r.mu.Lock()
}

// Penalize counts n invalid messages against the neighbour id, as the
// room counts its own invalid frames (Neighbour.Invalid, the score's
// invalid-message weight, disconnection below the threshold): for an
// application that found what the neighbour sent on a DIRECT channel
// invalid (an operation that does not verify, say). It does nothing for
// a member that is not a neighbour.
func (r *Room) Penalize(id identity.ID, n int, why error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	nb := r.neigh[id]
	if nb == nil || n <= 0 {
		return
	}
	for range min(n, 1000) {
		r.invalid(nb, &r.stats.Malformed, why)
		if r.neigh[id] != nb { // disconnected
			return
		}
	}
}
