package room

import (
	"context"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/session"
)

const (
	// maxIntros bounds the introductions a member has under way, in each
	// direction (asked for, and accepted).
	maxIntros = 4
	// maxRelayed bounds the introduction frames a member relays for one
	// neighbour per heartbeat.
	maxRelayed = 8
)

type pendingIntro struct {
	via      identity.ID
	inv      *session.Invitation
	deadline time.Time
}

func (r *Room) beatLoop() {
	defer r.wg.Done()
	t := time.NewTicker(r.opts.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
			r.heartbeat()
		}
	}
}

// heartbeat decays scores, acts on them, keeps the mesh within its
// bounds, asks for introductions, and announces recent message IDs.
// newcomerGrace is how long a newcomer this member admitted is spared
// when it has too many sessions.
const newcomerGrace = 30 * time.Second

func (r *Room) heartbeat() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	now := r.opts.Now()
	p := &r.opts.Score
	mp := &r.opts.Mesh
	dt := now.Sub(r.lastBeat)
	r.lastBeat = now

	for id, s := range r.scores {
		s.decay(p, dt)
		if _, ok := r.neigh[id]; !ok && s.idle() && now.After(s.banned) {
			delete(r.scores, id)
		}
	}
	r.expirePromises(now)
	for len(r.seenQ) > 0 && now.Sub(r.seenQ[0].at) > r.opts.MaxAge+r.opts.MaxSkew {
		if r.seen[r.seenQ[0].id] == r.seenQ[0].at {
			delete(r.seen, r.seenQ[0].id)
		}
		r.seenQ = r.seenQ[1:]
	}
	for id, t := range r.backoff {
		if now.After(t) {
			delete(r.backoff, id)
		}
	}
	for id, pi := range r.intros {
		if pi.inv != nil && now.After(pi.deadline) {
			pi.inv.Close()
			delete(r.intros, id)
		}
	}

	// Scores: disconnect, prune.
	var mesh, lazy []*neighbour
	for _, n := range r.neigh {
		s := r.scoreOf(n.id)
		s.rtt = n.s.Stats().RTT
		n.iwantLeft, n.iwantBytes, n.relayed = MaxIDs, r.opts.QueueBytes, 0
		r.hintResume(n)
		r.checkScore(n, s)
		if r.neigh[n.id] != n || !n.hello {
			continue
		}
		if n.mesh && s.value(p) < p.PruneThreshold {
			r.prune(n, now)
		}
		if n.mesh {
			mesh = append(mesh, n)
		} else {
			lazy = append(lazy, n)
		}
	}
	value := func(n *neighbour) float64 { return r.scoreOf(n.id).value(p) }
	rand.Shuffle(len(mesh), func(i, j int) { mesh[i], mesh[j] = mesh[j], mesh[i] })
	rand.Shuffle(len(lazy), func(i, j int) { lazy[i], lazy[j] = lazy[j], lazy[i] })
	slices.SortStableFunc(mesh, func(a, b *neighbour) int { return cmpFloat(value(a), value(b)) }) // worst first
	slices.SortStableFunc(lazy, func(a, b *neighbour) int { return cmpFloat(value(b), value(a)) }) // best first
	graftable := func(n *neighbour) bool { return value(n) >= 0 && !r.inBackoff(n.id) }

	if len(mesh) > mp.High {
		// Prune the worst back to Target, sparing the neighbours of the
		// last few heartbeats (a member that needed them may have just
		// come).
		young := func(n *neighbour) bool { return now.Sub(n.since) < 5*r.opts.Heartbeat }
		for i := 0; i < len(mesh) && len(mesh) > mp.Target; i++ {
			if n := mesh[i]; !young(n) {
				r.prune(n, now)
				lazy = append(lazy, n)
				mesh = slices.Delete(mesh, i, i+1)
				i--
			}
		}
	}
	if len(mesh) < mp.Low {
		for i := 0; i < len(lazy) && len(mesh) < mp.Target; i++ {
			if n := lazy[i]; graftable(n) {
				r.graft(n)
				mesh = append(mesh, n)
				lazy = slices.Delete(lazy, i, i+1)
				i--
			}
		}
	}
	// Replace the worst mesh neighbour with a better one outside.
	if len(mesh) >= mp.Target && len(lazy) > 0 && value(mesh[0]) < 0 && graftable(lazy[0]) && value(lazy[0]) > value(mesh[0]) {
		r.prune(mesh[0], now)
		r.graft(lazy[0])
		mesh[0], lazy[0] = lazy[0], mesh[0]
	}
	// Too many sessions: drop the worst outside the mesh, sparing, while
	// another can go, a newcomer this member admitted in the last 30 s: it
	// has scored nothing yet, and this member may be its only way into the
	// room until it has been introduced to others.
	spare := func(n *neighbour) bool { return n.admitted && now.Sub(n.since) < newcomerGrace }
	for pass := 0; pass < 2; pass++ {
		for i := len(lazy) - 1; len(r.neigh) > mp.MaxNeighbours && i >= 0; i-- {
			if w := lazy[i]; pass == 1 || !spare(w) {
				lazy = slices.Delete(lazy, i, i+1)
				r.dropNeighbour(w, nil)
			}
		}
	}

	// Introductions to more members.
	if (len(r.neigh)+len(r.intros) < mp.Target || len(mesh) < mp.Low) &&
		len(r.neigh) < mp.MaxNeighbours && len(r.intros) == 0 && now.Sub(r.asked) >= 2*r.opts.Heartbeat {
		var via []*neighbour
		for _, n := range r.neigh {
			if n.hello && value(n) >= 0 {
				via = append(via, n)
			}
		}
		if len(via) > 0 {
			n := via[rand.IntN(len(via))]
			exclude := make([]identity.ID, 0, len(r.neigh))
			for id := range r.neigh {
				if len(exclude) < MaxIntroPeers {
					exclude = append(exclude, id)
				}
			}
			want := min(MaxIntroPeers, max(1, mp.Target-len(r.neigh)))
			r.send(n, peersFrame(frameIntroReq, want, exclude), false)
			r.asked = now
		}
	}

	// IHAVE of the recent messages a neighbour neither sent this member
	// nor was given by it: every message for the neighbours outside the
	// mesh, and for mesh neighbours what their full queues dropped.
	var ids []MessageID
	for _, h := range r.history {
		ids = append(ids, h...)
	}
	if len(ids) > 0 {
		for _, n := range append(mesh, lazy...) {
			if r.neigh[n.id] != n || value(n) < p.GossipThreshold {
				continue
			}
			// No more than this member will serve in one heartbeat, so
			// that an honest IHAVE is never a broken promise.
			var have []MessageID
			bytes := 0
			for _, id := range ids {
				st, ok := r.store[id]
				if !ok || st.has(n.id) {
					continue
				}
				if len(have) == MaxIDs || bytes+len(st.frame) > r.opts.QueueBytes {
					break
				}
				have = append(have, id)
				bytes += len(st.frame)
			}
			if len(have) > 0 {
				r.stats.IHaveSent += uint64(len(have))
				r.send(n, idsFrame(frameIHave, have), false)
			}
		}
	}
	copy(r.history[1:], r.history[:len(r.history)-1])
	r.history[0] = nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (r *Room) prune(n *neighbour, now time.Time) {
	n.mesh = false
	r.backoff[n.id] = now.Add(r.opts.Mesh.PruneBackoff)
	r.send(n, pruneFrame(r.opts.Mesh.PruneBackoff), false)
}

func (r *Room) graft(n *neighbour) {
	n.mesh = true
	r.send(n, []byte{frameGraft}, false)
}

// onIntroRequest answers a neighbour's request for introductions with
// some of this member's other neighbours.
func (r *Room) onIntroRequest(n *neighbour, f *frame) {
	var peers []identity.ID
	for id, p := range r.neigh {
		if p != n && p.hello && !slices.Contains(f.peers, id) {
			peers = append(peers, id)
		}
	}
	rand.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
	if len(peers) > f.want {
		peers = peers[:f.want]
	}
	r.send(n, peersFrame(frameIntroPeers, 0, peers), false)
}

// onIntroPeers starts introductions to the members a neighbour offered:
// a recipient-bound invitation for each, sent through that neighbour.
func (r *Room) onIntroPeers(n *neighbour, peers []identity.ID) {
	mp := &r.opts.Mesh
	self := r.self.ID()
	for _, p := range peers {
		if len(r.intros) >= maxIntros || len(r.neigh)+len(r.intros) >= mp.MaxNeighbours {
			return
		}
		if p == self || r.neigh[p] != nil || r.intros[p] != nil || r.banned(p) || r.inBackoff(p) || !r.members.isMember(p) {
			continue
		}
		pi := &pendingIntro{via: n.id}
		r.intros[p] = pi
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			so := r.sessionOptions()
			so.Recipient, so.Expect, so.Lifetime = p, p, max(r.opts.IntroLifetime, invite.MinLifetime)
			inv, err := session.Invite(r.ctx, r.self, so)
			r.mu.Lock()
			defer r.mu.Unlock()
			via := r.neigh[pi.via]
			if err != nil || r.closed || r.intros[p] != pi || via == nil {
				if err == nil {
					inv.Close()
				}
				if r.intros[p] == pi {
					delete(r.intros, p)
				}
				return
			}
			pi.inv, pi.deadline = inv, inv.Offer().Expires()
			r.send(via, tokenFrame(frameIntroOffer, p, r.meshCount() < r.opts.Mesh.Low, inv.Token()), false)
		}()
	}
}

// relayBudget counts a relayed introduction frame against n.
func (r *Room) relayBudget(n *neighbour) bool {
	if n.relayed >= maxRelayed {
		return false
	}
	n.relayed++
	return true
}

// onIntroOffer relays an introduction's offer to its recipient, or, for
// this member, answers it.
func (r *Room) onIntroOffer(n *neighbour, f *frame) {
	offer, err := invite.ParseOffer(f.token)
	if err != nil {
		r.invalid(n, &r.stats.Malformed, err)
		return
	}
	self := r.self.ID()
	if offer.Recipient != self {
		// Relay: from the inviter n to its recipient f.peer.
		t := r.neigh[f.peer]
		if offer.Inviter != n.id || offer.Recipient != f.peer || t == nil || t == n || !t.hello {
			return
		}
		if r.relayBudget(n) {
			r.send(t, tokenFrame(frameIntroOffer, n.id, f.needy, f.token), false)
		}
		return
	}
	from := offer.Inviter
	decline := func() { r.send(n, tokenFrame(frameIntroAnswer, from, false, ""), false) }
	// A member takes introductions up to Target mesh neighbours, and up
	// to one above High from a member that has fewer than Low (the next
	// heartbeat prunes back to Target, sparing the newest neighbours).
	mp := &r.opts.Mesh
	limit := mp.Target
	if f.needy {
		limit = mp.High + 1
	}
	if from != f.peer || !r.members.isMember(from) || r.banned(from) || r.neigh[from] != nil ||
		r.accepts >= maxIntros || r.meshCount()+r.accepts >= limit || len(r.neigh)+r.accepts >= mp.MaxNeighbours {
		decline()
		return
	}
	if pi := r.intros[from]; pi != nil && string(self[:]) < string(from[:]) {
		decline() // both introduced themselves: the lower ID's invitation goes on
		return
	}
	r.accepts++
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		so := r.sessionOptions()
		so.Expect = from
		ctx, cancel := context.WithTimeout(r.ctx, r.opts.IntroLifetime+5*time.Second)
		defer cancel()
		acc, err := session.Accept(ctx, r.self, offer, so)
		r.mu.Lock()
		via := r.neigh[n.id]
		if err != nil || r.closed || via == nil {
			r.accepts--
			if err == nil {
				acc.Close()
			} else if via != nil {
				r.send(via, tokenFrame(frameIntroAnswer, from, false, ""), false)
			}
			r.mu.Unlock()
			return
		}
		r.send(via, tokenFrame(frameIntroAnswer, from, false, acc.Token()), false)
		r.mu.Unlock()
		s, err := acc.Wait(ctx)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.accepts--
		if err != nil {
			acc.Close()
			return
		}
		r.addNeighbour(s, from, pathOf(offer, acc.Answer()), true)
	}()
}

// onIntroAnswer relays an introduction's answer back to the inviter, or,
// for this member's own introduction, connects.
func (r *Room) onIntroAnswer(n *neighbour, f *frame) {
	if pi := r.intros[f.peer]; pi != nil && pi.via == n.id && pi.inv != nil {
		target := f.peer
		if f.token == "" {
			pi.inv.Close()
			delete(r.intros, target)
			return
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			a, err := pi.inv.ReadAnswer(f.token)
			if err == nil {
				ctx, cancel := context.WithTimeout(r.ctx, r.opts.IntroLifetime+5*time.Second)
				defer cancel()
				var s *session.Session
				if s, err = pi.inv.Connect(ctx, a); err == nil {
					r.mu.Lock()
					defer r.mu.Unlock()
					if r.intros[target] == pi {
						delete(r.intros, target)
					}
					r.addNeighbour(s, r.self.ID(), pathOf(pi.inv.Offer(), a), true)
					return
				}
			}
			pi.inv.Close()
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.intros[target] == pi {
				delete(r.intros, target)
			}
			// Unreachable (NATs on both sides, say): not again for a
			// while; the room's messages reach it through the others.
			r.backoff[target] = r.opts.Now().Add(r.opts.Mesh.PruneBackoff)
		}()
		return
	}
	// Relay: from the recipient n back to the inviter f.peer.
	to := r.neigh[f.peer]
	if to == nil || to == n || !to.hello {
		return
	}
	if f.token != "" {
		a, err := invite.ParseAnswer(f.token)
		if err != nil {
			r.invalid(n, &r.stats.Malformed, err)
			return
		}
		if a.Answerer != n.id {
			return
		}
	}
	if r.relayBudget(n) {
		r.send(to, tokenFrame(frameIntroAnswer, n.id, false, f.token), false)
	}
}
