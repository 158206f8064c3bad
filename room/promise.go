package room

import (
	"slices"
	"time"

	"github.com/sp2p/sp2p/identity"
)

// IWANT bookkeeping: what this member asked its neighbours for after their
// IHAVEs, the broken promises it charges them, and asking again
// elsewhere. SECURITY.md ("Scoring", "Send queues") has the limits.

// promise is one message ID this member asked a neighbour for (IWANT).
// The IDs of one IWANT share a request: if any of them has not arrived
// (from anyone) by the deadline, the request is one broken promise. A
// follow-up request (req nil: the ID asked again of another announcer
// after a promise broke) is never charged: it is not sized to what the
// announcer serves in one heartbeat.
type promise struct {
	from     identity.ID
	deadline time.Time
	req      *iwantRequest
	answered bool          // it arrived but was dropped as over its origin's budget: not charged
	alts     []identity.ID // other neighbours that announced it meanwhile, asked in turn if it does not arrive
	tried    []identity.ID // who was asked for it before (never an alternate again)
}

// maxPromisesPer bounds the IDs one neighbour may have been asked for and
// not yet delivered: a neighbour that withholds what it announces holds
// at most this many of a member's repairs at a time, and the neighbours a
// member may have cannot fill its table of promises (maxPromises).
// maxAlternates bounds the other announcers remembered per ID, and
// maxFollowUps the IDs asked again of one announcer per heartbeat (15
// messages of the largest size fit in what it serves in one).
const (
	maxPromisesPer = MaxIDs / 4
	maxAlternates  = 4
	maxFollowUps   = 15
)

func (r *Room) maxPromises() int {
	return max(4*MaxIDs, (r.opts.Mesh.MaxNeighbours+1)*maxPromisesPer)
}

// unpromise forgets the promise of id, if there is one (it arrived, or
// its time is up); r.mu is held.
func (r *Room) unpromise(id MessageID) {
	pr, ok := r.promises[id]
	if !ok {
		return
	}
	delete(r.promises, id)
	if r.promisedBy[pr.from]--; r.promisedBy[pr.from] <= 0 {
		delete(r.promisedBy, pr.from)
	}
}

type iwantRequest struct {
	broken bool // counted already
}

// onIHave asks n for the announced messages this member lacks.
func (r *Room) onIHave(n *neighbour, ids []MessageID) {
	if r.scoreOf(n.id).value(&r.opts.Score) < r.opts.Score.GossipThreshold {
		return
	}
	var want []MessageID
	deadline := r.opts.Now().Add(r.opts.Score.PromiseTimeout)
	req := &iwantRequest{}
	for _, id := range ids {
		if _, ok := r.seen[id]; ok {
			r.markHave(id, n.id)
			continue
		}
		if pr, ok := r.promises[id]; ok {
			if pr.from != n.id && len(pr.alts) < maxAlternates && !slices.Contains(pr.alts, n.id) && !slices.Contains(pr.tried, n.id) {
				pr.alts = append(pr.alts, n.id)
				r.promises[id] = pr
			}
			continue
		}
		if len(r.promises) >= r.maxPromises() || r.promisedBy[n.id] >= maxPromisesPer {
			continue
		}
		r.promises[id] = promise{from: n.id, deadline: deadline, req: req}
		r.promisedBy[n.id]++
		want = append(want, id)
	}
	r.askFor(n, want)
}

// askFor sends n an IWANT for ids, promised already; r.mu is held.
func (r *Room) askFor(n *neighbour, ids []MessageID) {
	if len(ids) > 0 {
		r.stats.IWantSent += uint64(len(ids))
		r.send(n, idsFrame(frameIWant, ids), false)
	}
}

// followUp is an ID whose promise ran out, to be asked of its next
// announcer.
type followUp struct {
	id    MessageID
	alts  []identity.ID
	tried []identity.ID
}

// askElsewhere asks the next announcer of each ID whose promise ran out
// without it arriving, at most maxFollowUps IDs of each announcer; an ID
// that none of its announcers can take now is given up (a later IHAVE
// may bring it); r.mu is held.
func (r *Room) askElsewhere(todo []followUp) {
	deadline := r.opts.Now().Add(r.opts.Score.PromiseTimeout)
	asks := map[identity.ID][]MessageID{}
	for _, f := range todo {
		for i, a := range f.alts {
			n, ok := r.neigh[a]
			if !ok || len(asks[a]) >= maxFollowUps || r.promisedBy[a] >= maxPromisesPer ||
				len(r.promises) >= r.maxPromises() || r.scoreOf(a).value(&r.opts.Score) < r.opts.Score.GossipThreshold {
				continue
			}
			r.promises[f.id] = promise{from: a, deadline: deadline, alts: slices.Clip(f.alts[i+1:]), tried: f.tried}
			r.promisedBy[a]++
			asks[n.id] = append(asks[n.id], f.id)
			break
		}
	}
	for a, ids := range asks {
		r.askFor(r.neigh[a], ids)
	}
}

// expirePromises counts the promises whose time is up without their
// message (one per request) and asks the next announcers; r.mu is held.
func (r *Room) expirePromises(now time.Time) {
	var todo []followUp
	for id, pr := range r.promises {
		if !now.After(pr.deadline) {
			continue
		}
		r.unpromise(id)
		if _, ok := r.seen[id]; ok {
			continue
		}
		if pr.req != nil && !pr.req.broken && !pr.answered {
			pr.req.broken = true
			r.scoreOf(pr.from).broken++
			if n, ok := r.neigh[pr.from]; ok {
				n.counters.BrokenPromises++
			}
		}
		if len(pr.alts) > 0 {
			todo = append(todo, followUp{id: id, alts: pr.alts, tried: append(slices.Clip(pr.tried), pr.from)})
		}
	}
	r.askElsewhere(todo)
}
