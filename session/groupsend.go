package session

import (
	"context"
	"errors"
	"sync"
)

// DefaultGroupSendQueueBytes bounds, by default, the messages a Group has
// accepted for one peer and not yet handed to that peer's session.
const DefaultGroupSendQueueBytes = 4 << 20

// WithSendQueueBytes bounds each peer's send queue to n bytes of messages
// (default DefaultGroupSendQueueBytes). A peer that takes messages more
// slowly than the group sends them fills only its own queue: Broadcast
// puts the message in every other peer's queue first and then waits, as
// long as its context allows, for room in the full ones. A single message
// larger than n waits until that peer's queue is empty.
func WithSendQueueBytes(n int) GroupOption {
	return func(g *Group) {
		if n > 0 {
			g.sendQueueBytes = n
		}
	}
}

// errQueueFull is what tryPush says of a full queue.
var errQueueFull = errors.New("session: the peer's send queue is full")

// outItem is one message waiting for a peer. done is nil for a broadcast
// (nobody waits for it); a Send waits on it, and ctx is the Send's.
type outItem struct {
	msg  []byte
	ctx  context.Context
	done chan error
}

// outQueue is one peer's send queue, bounded in bytes and drained in
// order by run, the peer's only writer in the group.
type outQueue struct {
	max int

	mu      sync.Mutex
	items   []outItem
	bytes   int           // queued and in flight
	err     error         // set when the queue no longer takes messages
	changed chan struct{} // closed and replaced on every change
}

func newOutQueue(max int) *outQueue {
	return &outQueue{max: max, changed: make(chan struct{})}
}

// notify wakes everyone waiting on a change; q.mu is held.
func (q *outQueue) notify() {
	close(q.changed)
	q.changed = make(chan struct{})
}

// tryPush queues it if there is room, else returns errQueueFull.
func (q *outQueue) tryPush(it outItem) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return q.err
	}
	if q.bytes > 0 && q.bytes+len(it.msg) > q.max {
		return errQueueFull
	}
	q.items = append(q.items, it)
	q.bytes += len(it.msg)
	q.notify()
	return nil
}

// push queues it, waiting for room as long as ctx allows.
func (q *outQueue) push(ctx context.Context, it outItem) error {
	for {
		err := q.tryPush(it)
		if !errors.Is(err, errQueueFull) {
			return err
		}
		q.mu.Lock()
		ch := q.changed
		q.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// fail makes the queue refuse messages with err and tells every waiting
// Send; queued broadcasts are dropped.
func (q *outQueue) fail(err error) {
	q.mu.Lock()
	if q.err == nil {
		q.err = err
	}
	items := q.items
	q.items = nil
	q.bytes = 0
	q.notify()
	q.mu.Unlock()
	for _, it := range items {
		if it.done != nil {
			it.done <- err
		}
	}
}

// run sends the queued messages in order until the queue fails or the
// session ends (then the queue fails with the session's error).
func (q *outQueue) run(s *Session) {
	for {
		q.mu.Lock()
		for len(q.items) == 0 && q.err == nil {
			ch := q.changed
			q.mu.Unlock()
			select {
			case <-ch:
			case <-s.Done():
				q.fail(s.Err())
				return
			}
			q.mu.Lock()
		}
		if q.err != nil {
			q.mu.Unlock()
			return
		}
		it := q.items[0]
		q.items[0] = outItem{}
		q.items = q.items[1:]
		q.mu.Unlock()

		ctx := it.ctx
		if ctx == nil {
			ctx = context.Background()
		}
		err := s.Send(ctx, it.msg)
		if it.done != nil {
			it.done <- err
		}
		q.mu.Lock()
		q.bytes -= len(it.msg)
		if q.bytes < 0 {
			q.bytes = 0
		}
		q.notify()
		q.mu.Unlock()
		if err != nil && it.done == nil {
			// A broadcast the session could not send: the session has
			// ended (Receive reports it as Disconnected).
			q.fail(err)
			return
		}
	}
}
