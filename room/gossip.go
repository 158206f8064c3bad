package room

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/time/rate"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/session"
)

// addNeighbour takes an open session into the room and starts its loops;
// r.mu is held. With hello, this side's HELLO and records go first. Of two
// sessions with one peer (both introduced themselves at once), both sides
// keep the one whose inviter has the lower ID.
func (r *Room) addNeighbour(s *session.Session, inviter identity.ID, path PathType, hello bool) *neighbour {
	if r.closed {
		s.Close()
		return nil
	}
	peer := s.Peer()
	if old, ok := r.neigh[peer]; ok {
		if string(old.inviter[:]) < string(inviter[:]) && old.inviter != inviter {
			s.Close()
			return nil
		}
		r.dropNeighbour(old, nil)
	}
	n := newNeighbour(peer, s, inviter, path, r.opts.Now())
	r.neigh[peer] = n
	n.iwantLeft, n.iwantBytes = MaxIDs, r.opts.QueueBytes
	if hello {
		n.mesh = r.meshCount() < r.opts.Mesh.High && !r.inBackoff(peer)
		r.send(n, helloFrame(r.rid, n.mesh), false)
		r.send(n, recordsFrame(r.members.records()), false)
	}
	r.event(Event{Kind: EventNeighbourUp, Member: peer})
	r.log.Debug("neighbour up", "peer", peer.Fingerprint(), "mesh", n.mesh)
	r.wg.Add(2)
	go func() {
		defer r.wg.Done()
		err := n.writeLoop(r.ctx)
		if err != nil {
			n.s.Close()
		}
	}()
	go func() {
		defer r.wg.Done()
		r.readLoop(n)
	}()
	return n
}

// dropNeighbour ends a neighbour's session; r.mu is held.
func (r *Room) dropNeighbour(n *neighbour, err error) {
	if r.neigh[n.id] == n {
		delete(r.neigh, n.id)
		r.event(Event{Kind: EventNeighbourDown, Member: n.id, Err: err})
		r.log.Debug("neighbour down", "peer", n.id.Fingerprint(), "err", err)
	}
	if !n.closing {
		n.closing = true
		n.closeQueue()
		go n.s.Close()
	}
}

func (r *Room) readLoop(n *neighbour) {
	for {
		// stall is a gate, not a lock around data: a test holds it to
		// make this member stop reading its sessions.
		r.stall.Lock()
		//lint:ignore SA2001 a gate: while a test holds it, reading waits
		r.stall.Unlock()
		b, err := n.s.Receive(r.ctx)
		if err != nil {
			r.mu.Lock()
			r.dropNeighbour(n, err)
			r.mu.Unlock()
			return
		}
		r.handle(n, b)
	}
}

// send queues a frame for n and reports whether it was queued; r.mu is
// held. Gossip (droppable) that does not fit is dropped and counted; the
// next heartbeat's IHAVE tells n about the message instead.
func (r *Room) send(n *neighbour, b []byte, droppable bool) bool {
	ok, err := n.enqueue(b, droppable, r.opts.QueueBytes)
	if err != nil {
		r.dropNeighbour(n, err)
		return false
	}
	if !ok && droppable {
		n.counters.QueueDrops++
		r.stats.QueueDrops++
	}
	return ok
}

func (r *Room) scoreOf(id identity.ID) *score {
	s, ok := r.scores[id]
	if !ok {
		s = &score{}
		r.scores[id] = s
	}
	s.touched = r.opts.Now()
	return s
}

func (r *Room) originOf(id identity.ID) *originState {
	o, ok := r.origins[id]
	if !ok {
		b := r.opts.Budget
		o = &originState{
			msgs:  rate.NewLimiter(rate.Limit(b.MessagesPerSecond), b.MessageBurst),
			bytes: rate.NewLimiter(rate.Limit(b.BytesPerSecond), b.ByteBurst),
		}
		r.origins[id] = o
	}
	return o
}

// invalid counts an invalid frame against n and disconnects it if its
// score falls below the threshold; r.mu is held.
func (r *Room) invalid(n *neighbour, counter *uint64, why error) {
	*counter++
	n.counters.Invalid++
	s := r.scoreOf(n.id)
	s.invalid++
	r.log.Debug("dropped an invalid frame", "peer", n.id.Fingerprint(), "why", why)
	r.checkScore(n, s)
}

// checkScore disconnects and bans n if its score is below the threshold.
func (r *Room) checkScore(n *neighbour, s *score) {
	p := &r.opts.Score
	if s.value(p) < p.DisconnectThreshold {
		s.banned = r.opts.Now().Add(p.BanDuration)
		r.dropNeighbour(n, fmt.Errorf("room: score %.1f below %.1f", s.value(p), p.DisconnectThreshold))
	}
}

func (r *Room) banned(id identity.ID) bool {
	s, ok := r.scores[id]
	return ok && r.opts.Now().Before(s.banned)
}

// remember records a message as seen and keeps it for IWANTs; r.mu is
// held.
func (r *Room) remember(id MessageID, f []byte, now time.Time) *stored {
	r.seen[id] = now
	r.seenQ = append(r.seenQ, seenEntry{id, now})
	for len(r.seenQ) > r.opts.SeenCache {
		delete(r.seen, r.seenQ[0].id)
		r.seenQ = r.seenQ[1:]
	}
	st := &stored{frame: f, at: now}
	r.store[id] = st
	r.storeQ = append(r.storeQ, id)
	r.storeSize += len(f)
	for len(r.storeQ) > r.opts.History || r.storeSize > 64<<20 {
		old := r.storeQ[0]
		r.storeQ = r.storeQ[1:]
		if s, ok := r.store[old]; ok {
			r.storeSize -= len(s.frame)
			delete(r.store, old)
		}
	}
	r.history[0] = append(r.history[0], id)
	return st
}

func (r *Room) markHave(id MessageID, peer identity.ID) {
	if st, ok := r.store[id]; ok && len(st.have) < 2*r.opts.Mesh.MaxNeighbours {
		st.have = append(st.have, peer)
	}
}

func (st *stored) has(peer identity.ID) bool {
	for _, p := range st.have {
		if p == peer {
			return true
		}
	}
	return false
}

func (r *Room) meshCount() int {
	c := 0
	for _, n := range r.neigh {
		if n.mesh {
			c++
		}
	}
	return c
}

func (r *Room) inBackoff(id identity.ID) bool {
	return r.opts.Now().Before(r.backoff[id])
}

// handle processes one frame from n.
func (r *Room) handle(n *neighbour, b []byte) {
	f, err := decodeFrame(b)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.neigh[n.id] != n {
		return
	}
	if err != nil {
		r.invalid(n, &r.stats.Malformed, err)
		return
	}
	if !n.hello {
		if f.typ != frameHello {
			r.dropNeighbour(n, fmt.Errorf("%w: frame %d before its hello", ErrProtocol, f.typ))
			return
		}
		if f.room != r.rid {
			r.dropNeighbour(n, ErrWrongRoom)
			return
		}
		n.hello = true
		if !f.mesh {
			n.mesh = false
		} else if !n.mesh {
			if r.meshCount() < r.opts.Mesh.High && !r.inBackoff(n.id) {
				n.mesh = true
				r.send(n, []byte{frameGraft}, false)
			} else {
				r.send(n, pruneFrame(r.opts.Mesh.PruneBackoff), false)
			}
		}
		return
	}
	switch f.typ {
	case frameHello: // the newcomer's, after the welcome
		if f.room != r.rid {
			r.dropNeighbour(n, ErrWrongRoom)
		} else if !f.mesh {
			n.mesh = false
		}
	case framePublish:
		r.mu.Unlock()
		r.onPublish(n, f, b)
		r.mu.Lock()
	case frameRecords:
		if err := r.takeRecords(f.records, n); err != nil {
			r.invalid(n, &r.stats.Malformed, err)
		}
	case frameIHave:
		r.onIHave(n, f.ids)
	case frameIWant:
		r.onIWant(n, f.ids)
	case frameGraft:
		if r.meshCount() < r.opts.Mesh.High && !r.inBackoff(n.id) &&
			r.scoreOf(n.id).value(&r.opts.Score) >= 0 {
			n.mesh = true
		} else if !n.mesh {
			r.send(n, pruneFrame(r.opts.Mesh.PruneBackoff), false)
		}
	case framePrune:
		n.mesh = false
		r.backoff[n.id] = r.opts.Now().Add(max(f.backoff, r.opts.Heartbeat))
	case frameIntroReq:
		r.onIntroRequest(n, f)
	case frameIntroPeers:
		r.onIntroPeers(n, f.peers)
	case frameIntroOffer:
		r.onIntroOffer(n, f)
	case frameIntroAnswer:
		r.onIntroAnswer(n, f)
	case frameDirect:
		r.onDirect(n, f)
	case frameResumeHint:
		r.onResumeHint(n, f)
	default:
		r.dropNeighbour(n, fmt.Errorf("%w: unexpected frame %d", ErrProtocol, f.typ))
	}
}

// takeRecords adds membership records and passes the new ones on to
// every neighbour but from; r.mu is held. It returns an error for an
// invalid record (after taking the valid ones).
func (r *Room) takeRecords(recs []record, from *neighbour) error {
	before := r.members.valid
	var fresh []record
	var bad error
	now := r.opts.Now()
	for _, rec := range recs {
		changed, err := r.members.add(rec, now)
		switch {
		case errors.Is(err, ErrRoomFull):
		case err != nil:
			bad = err
		case changed:
			fresh = append(fresh, rec)
		}
	}
	if len(fresh) > 0 {
		f := recordsFrame(fresh)
		for _, n := range r.neigh {
			if n != from && n.hello {
				r.send(n, f, false)
			}
		}
	}
	after := r.members.valid
	for id := range after {
		if !before[id] {
			r.event(Event{Kind: EventJoined, Member: id})
		}
	}
	self := r.self.ID()
	for id := range before {
		if after[id] {
			continue
		}
		r.event(Event{Kind: EventRemoved, Member: id})
		if n, ok := r.neigh[id]; ok {
			// It gets the records that remove it, then the end.
			delete(r.neigh, n.id)
			r.event(Event{Kind: EventNeighbourDown, Member: n.id, Err: ErrRemoved})
			n.closing = true
			n.closeAfterFlush()
		}
		if id == self {
			go r.shutdown(ErrRemoved)
		}
	}
	return bad
}

// onPublish checks a PUBLISH frame from n and delivers and forwards the
// message when it is new and valid. The checks that cost nothing come
// first; the signature is checked outside the lock; a message is
// remembered as seen only once its signature is checked, so a forgery
// cannot silence the real message.
func (r *Room) onPublish(n *neighbour, f *frame, raw []byte) {
	m := &f.msg
	id := m.id()
	now := r.opts.Now()
	r.mu.Lock()
	if ok := r.prePublish(n, f, id, now); !ok {
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()
	sigErr := m.origin.Verify(ContextMessage, m.signed(), m.sig[:])
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.neigh[n.id] != n {
		return
	}
	if sigErr != nil {
		r.invalid(n, &r.stats.Forged, sigErr)
		return
	}
	if _, dup := r.seen[id]; dup { // it came another way while we checked
		r.duplicate(n, id)
		return
	}
	o := r.originOf(m.origin)
	if err := o.check(m.seq); err != nil {
		r.invalid(n, &r.stats.Replayed, err)
		return
	}
	if m.origin != n.id && !(o.msgs.AllowN(now, 1) && o.bytes.AllowN(now, max(1, len(m.payload)))) {
		// Over the origin's budget, forwarded by someone else: dropped,
		// not held against the forwarder (if it answered an IWANT, the
		// promise is kept).
		r.stats.OverBudget++
		if pr, ok := r.promises[id]; ok && pr.from == n.id {
			pr.answered = true // kept until its time is up, then asked elsewhere
			r.promises[id] = pr
		}
		return
	}
	o.mark(m.seq)
	fwd := append([]byte(nil), raw...)
	fwd[1] = f.hops + 1
	st := r.remember(id, fwd, now)
	st.have = append(st.have, n.id)
	r.unpromise(id)
	n.counters.FirstDeliveries++
	r.scoreOf(n.id).first++
	r.stats.Delivered++
	r.event(Event{Kind: EventMessage, Message: &Message{
		ID: id, From: m.origin, Seq: m.seq, Time: time.UnixMilli(m.time), Data: m.payload,
	}})
	if r.noForward || f.hops >= MaxHops || now.Sub(time.UnixMilli(m.time)) > r.opts.MaxAge/2 {
		return
	}
	for _, p := range r.neigh {
		if p.mesh && p != n && p.id != m.origin && p.hello {
			if r.send(p, fwd, true) {
				st.have = append(st.have, p.id)
				r.stats.Forwarded++
			}
		}
	}
}

// prePublish runs the checks that need no signature; r.mu is held.
func (r *Room) prePublish(n *neighbour, f *frame, id MessageID, now time.Time) bool {
	if r.neigh[n.id] != n {
		return false
	}
	m := &f.msg
	if _, dup := r.seen[id]; dup {
		r.duplicate(n, id)
		return false
	}
	if m.room != r.rid {
		r.invalid(n, &r.stats.Malformed, ErrWrongRoom)
		return false
	}
	if r.members.isRemoved(m.origin) {
		r.invalid(n, &r.stats.Removed, ErrRemoved)
		return false
	}
	if !r.members.isMember(m.origin) {
		r.invalid(n, &r.stats.NonMember, ErrNotMember)
		return false
	}
	t := time.UnixMilli(m.time)
	if now.Sub(t) > r.opts.MaxAge || t.Sub(now) > r.opts.MaxSkew {
		r.invalid(n, &r.stats.Stale, errors.New("time out of the window"))
		return false
	}
	if m.origin == n.id {
		// Its own message: charge its budget before the signature costs
		// anything (the session already authenticated it).
		o := r.originOf(m.origin)
		if !(o.msgs.AllowN(now, 1) && o.bytes.AllowN(now, max(1, len(m.payload)))) {
			r.stats.OverBudget++
			n.counters.RateViolations++
			s := r.scoreOf(n.id)
			s.rate++
			r.checkScore(n, s)
			return false
		}
	}
	return true
}

func (r *Room) duplicate(n *neighbour, id MessageID) {
	r.stats.Duplicates++
	n.counters.Duplicates++
	r.markHave(id, n.id)
}

// onIWant sends n the messages it asks for, up to MaxIDs and QueueBytes
// per heartbeat. They are queued as control frames (not dropped when the
// queue is full: they are the repair, and a promise this member made).
func (r *Room) onIWant(n *neighbour, ids []MessageID) {
	if r.noForward {
		return
	}
	for _, id := range ids {
		st, ok := r.store[id]
		if !ok || r.opts.Now().Sub(st.at) > r.opts.MaxAge/2 {
			continue // unknown, or too old to forward
		}
		if n.iwantLeft <= 0 || n.iwantBytes < len(st.frame) {
			return
		}
		n.iwantLeft--
		n.iwantBytes -= len(st.frame)
		r.stats.IWantServed++
		if r.send(n, st.frame, false) {
			r.markHave(id, n.id)
		}
	}
}
