package state

import (
	"bytes"
	"fmt"
	"time"

	"github.com/sp2p/sp2p/identity"
)

// Implementation limits of a replica (SECURITY.md lists them).
const (
	// MaxAuthors bounds the authors whose logs a replica holds.
	MaxAuthors = 2048
	// MaxPending bounds the verified ops held while they wait for their
	// predecessor, and maxPendingBytes their size.
	MaxPending = 4096
	// MaxPendingPerAuthor bounds one author's share of them, so that an
	// author whose ops never resolve cannot keep the others' out.
	MaxPendingPerAuthor = MaxPending / 8
	maxPendingBytes     = 16 << 20
	// DefaultMaxSkew is how far ahead of the receiver's clock an op's HLC
	// may be (inclusive).
	DefaultMaxSkew = 2 * time.Minute
)

// Evidence proves that an author forked its log: two ops it signed that
// cannot both be on one chain. Either both have sequence number At
// (and different hashes), or B has sequence number At+1 and names a
// predecessor other than A.
type Evidence struct {
	A, B *Op
	At   uint64 // the fork point: the author's ops from At on are excluded
}

// forkPoint checks that a and b prove a fork and returns its point.
func forkPoint(a, b *Op) (uint64, bool) {
	if a.Author != b.Author || a.Room != b.Room {
		return 0, false
	}
	if a.Seq > b.Seq {
		a, b = b, a
	}
	switch {
	case a.Seq == b.Seq && a.hash != b.hash:
		return a.Seq, true
	case b.Seq == a.Seq+1 && b.Prev != a.hash:
		return a.Seq, true
	}
	return 0, false
}

type cutoffMark struct {
	seq  uint64
	hash Hash
}

// authorLog is one author's accepted chain: ops[i].Seq == i+1.
type authorLog struct {
	ops      []*Op
	forkAt   uint64 // 0: no fork known; else the lowest proven fork point
	evidence *Evidence
	exact    bool // the evidence is two ops with one predecessor
	cutoff   *cutoffMark
}

func (l *authorLog) head() (uint64, Hash) {
	if len(l.ops) == 0 {
		return 0, Hash{}
	}
	o := l.ops[len(l.ops)-1]
	return o.Seq, o.hash
}

// limit returns the highest sequence number that counts: below a fork,
// up to a cutoff.
func (l *authorLog) limit() uint64 {
	lim := ^uint64(0)
	if l.forkAt != 0 {
		lim = l.forkAt - 1
	}
	if c := l.cutoff; c != nil {
		at := c.seq
		if at > 0 && at <= uint64(len(l.ops)) && l.ops[at-1].hash != c.hash {
			at-- // the cutoff names another op at its place: up to the one before
		}
		lim = min(lim, at)
	}
	return lim
}

// sendable returns how many of the log's ops sync offers: those that
// count (below a fork, up to a cutoff).
func (l *authorLog) sendable() uint64 { return min(uint64(len(l.ops)), l.limit()) }

func (l *authorLog) truncate(n uint64) {
	if uint64(len(l.ops)) > n {
		clear(l.ops[n:])
		l.ops = l.ops[:n]
	}
}

type pendKey struct {
	author identity.ID
	seq    uint64
}

// outcome of accept.
type outcome int

const (
	accepted outcome = iota
	duplicate
	deferred // waits in the pending pool for its predecessor
	evidenced
)

// accept checks op against the replica's logs and takes it in. It runs
// with r.mu held. Checks go from cheap to costly: room, membership, clock,
// duplicates, fork and cutoff bounds, then the signature, then the chain.
func (r *Replica) accept(op *Op, now time.Time) (outcome, error) {
	return r.acceptVerified(op, now, nil)
}

// cheap runs the checks before the signature, without changing anything;
// done reports that they decided the op's fate.
func (r *Replica) cheap(op *Op, now time.Time) (out outcome, err error, done bool) {
	if op.Room != r.cfg.Room {
		return 0, ErrWrongRoom, true
	}
	l := r.logs[op.Author]
	if !r.loading && !r.cfg.Members.IsMember(op.Author) {
		if l == nil || l.cutoff == nil {
			if l != nil {
				return 0, fmt.Errorf("%w: %s is no longer a member", ErrRemoved, op.Author), true
			}
			return 0, fmt.Errorf("%w: %s", ErrNotMember, op.Author), true
		}
	}
	if limitMs := now.Add(r.cfg.MaxSkew).UnixMilli(); !r.loading && op.Millis() > limitMs {
		return 0, fmt.Errorf("%w: %d ms ahead of the limit", ErrFuture, op.Millis()-limitMs), true
	}
	if l != nil && l.cutoff != nil && (op.Seq > l.cutoff.seq || op.Seq == l.cutoff.seq && op.hash != l.cutoff.hash) {
		return 0, fmt.Errorf("%w: cut off at sequence number %d, this op is %d", ErrRemoved, l.cutoff.seq, op.Seq), true
	}
	if l != nil && op.Seq <= uint64(len(l.ops)) && l.ops[op.Seq-1].hash == op.hash {
		return duplicate, nil, true
	}
	if l != nil && l.forkAt != 0 && op.Seq > l.forkAt {
		return 0, fmt.Errorf("%w: at sequence number %d, this op is %d", ErrForked, l.forkAt, op.Seq), true
	}
	if l == nil && len(r.logs) >= MaxAuthors {
		return 0, ErrTooManyAuthors, true
	}
	return 0, nil, false
}

// acceptVerified is accept with, when sig says it was made, the
// signature's verdict computed beforehand; otherwise the signature is
// checked here (an op that failed the cheap checks then and passes them
// now, say after a membership change, was never checked).
func (r *Replica) acceptVerified(op *Op, now time.Time, sig *verdict) (outcome, error) {
	if out, err, done := r.cheap(op, now); done {
		if out == duplicate && !op.Pruned {
			r.unprune(op)
		}
		return out, err
	}
	if !r.loading {
		var err error
		if sig != nil && sig.done {
			err = sig.err
		} else {
			err = op.Verify()
		}
		if err != nil {
			return 0, err
		}
	}
	l := r.logs[op.Author]
	if op.Kind == KindCutoff {
		if op.Author != r.cfg.Members.Creator() {
			return 0, ErrNotCreator
		}
		if a, _, _ := op.cutoff(); a == op.Author {
			return 0, fmt.Errorf("%w: the creator cannot be cut off", ErrNotCreator)
		}
	}
	if l == nil {
		l = &authorLog{}
		r.logs[op.Author] = l
	}
	head, headHash := l.head()
	switch {
	case op.Seq <= head:
		r.addEvidence(l, &Evidence{A: l.ops[op.Seq-1], B: op})
		return evidenced, nil
	case op.Seq > head+1:
		r.addPending(op)
		return deferred, nil
	case op.Prev != headHash:
		r.addEvidence(l, &Evidence{A: l.ops[head-1], B: op})
		return evidenced, nil
	case head > 0 && op.HLC <= l.ops[head-1].HLC:
		return 0, fmt.Errorf("%w: its clock does not grow", ErrBrokenChain)
	case l.forkAt != 0 && op.Seq >= l.forkAt:
		// An op of the other branch at the fork point that continues
		// this replica's chain: it proves nothing new, and does not count.
		return duplicate, nil
	}
	r.appendOp(l, op)
	return accepted, nil
}

// appendOp adds op, which continues l, and takes in what it unblocks.
func (r *Replica) appendOp(l *authorLog, op *Op) {
	l.ops = append(l.ops, op)
	r.persist(recOp, op.Encode())
	r.changed = append(r.changed, op)
	if op.HLC > r.clock {
		r.clock = op.HLC
	}
	if op.Kind == KindCutoff {
		r.recomputeCutoffs()
	}
	r.version++
	next := pendKey{op.Author, op.Seq + 1}
	if p, ok := r.pending[next]; ok {
		r.dropPending(next, p)
		if _, err := r.accept(p, r.now()); err != nil {
			r.cfg.Logger.Debug("state: a pending op was refused", "author", p.Author.String(), "seq", p.Seq, "err", err)
		}
	}
}

// recomputeCutoffs derives every author's cutoff from the creator's ops
// that count (below its fork point, if its log forked): of the cutoffs of
// one author, the lowest (seq, then hash) wins. Nothing is cut from the
// logs: ops past a cutoff are refused when they come and, when held, do
// not count (limit), so a cutoff that stops counting (the creator's fork
// point moved below it) is undone the same way on every member.
func (r *Replica) recomputeCutoffs() {
	for _, l := range r.logs {
		l.cutoff = nil
	}
	c := r.logs[r.cfg.Members.Creator()]
	if c == nil {
		return
	}
	lim := c.forkAt
	if lim == 0 {
		lim = ^uint64(0)
	} else {
		lim-- // the ops below the fork point count
	}
	for _, op := range c.ops {
		if op.Seq > lim {
			break
		}
		if op.Kind != KindCutoff {
			continue
		}
		a, seq, h := op.cutoff()
		l := r.logs[a]
		if l == nil {
			if len(r.logs) >= MaxAuthors {
				continue
			}
			l = &authorLog{}
			r.logs[a] = l
		}
		if l.cutoff != nil && (l.cutoff.seq < seq || l.cutoff.seq == seq && bytes.Compare(l.cutoff.hash[:], h[:]) <= 0) {
			continue
		}
		l.cutoff = &cutoffMark{seq: seq, hash: h}
	}
	r.version++
}

func (r *Replica) addPending(op *Op) {
	k := pendKey{op.Author, op.Seq}
	if _, ok := r.pending[k]; ok || len(r.pending) >= MaxPending || r.pendingBytes+op.Size() > maxPendingBytes ||
		r.pendingBy[op.Author] >= MaxPendingPerAuthor {
		return // sync brings it again
	}
	r.pending[k] = op
	r.pendingBytes += op.Size()
	if r.pendingBy == nil {
		r.pendingBy = map[identity.ID]int{}
	}
	r.pendingBy[op.Author]++
}

// dropPending takes op, held at k, out of the pending pool.
func (r *Replica) dropPending(k pendKey, op *Op) {
	delete(r.pending, k)
	r.pendingBytes -= op.Size()
	if r.pendingBy[k.author]--; r.pendingBy[k.author] <= 0 {
		delete(r.pendingBy, k.author)
	}
}

// addEvidence records a proven fork, keeps the lowest fork point per
// author, and refines it with this replica's own chain. It reports
// whether the fork point moved down.
func (r *Replica) addEvidence(l *authorLog, e *Evidence) bool {
	at, ok := forkPoint(e.A, e.B)
	if !ok || (l.forkAt != 0 && at > l.forkAt) {
		return false
	}
	if e.A.Seq > e.B.Seq || e.A.Seq == e.B.Seq && bytes.Compare(e.A.hash[:], e.B.hash[:]) > 0 {
		e.A, e.B = e.B, e.A
	}
	e.At = at
	exact := e.A.Seq == e.B.Seq && e.A.Prev == e.B.Prev // both on one predecessor: the chains part here
	lower := l.forkAt == 0 || at < l.forkAt
	if lower || exact && !l.exact {
		l.forkAt, l.evidence, l.exact = at, e, exact
		r.persist(recEvidence, encodeEvidence(e))
		r.version++
		r.cfg.Logger.Warn("state: an author forked its log", "author", e.A.Author.String(), "at", at)
		if lower && e.A.Author == r.cfg.Members.Creator() {
			r.recomputeCutoffs() // the creator's cutoffs past its fork point stop counting
		}
	}
	if exact {
		return lower
	}
	// Refine with what this replica holds: its own op at at-1 against the
	// predecessors the evidence names. (Evidence goes to every neighbour
	// each time it moves down, and each pair carries an op of the other
	// branch, so the members that hold either branch refine it in turn
	// down to where the chains part.)
	if at > 1 && uint64(len(l.ops)) >= at-1 {
		own := l.ops[at-2]
		for _, o := range []*Op{e.A, e.B} {
			if o.Seq == at && o.Prev != own.hash {
				r.addEvidence(l, &Evidence{A: own, B: o})
				return true
			}
		}
	}
	if !lower {
		return false
	}
	// The ops from the fork point on stay (they answer the other side's
	// requests for refinement) but no longer count and are not sent.
	for k, p := range r.pending {
		if k.author == e.A.Author && k.seq >= at {
			r.dropPending(k, p)
		}
	}
	return true
}

// takeEvidence checks that a and b, signed by one member, prove a fork,
// and records it.
func (r *Replica) takeEvidence(a, b *Op) error {
	if a.Room != r.cfg.Room || b.Room != r.cfg.Room {
		return ErrWrongRoom
	}
	if _, ok := forkPoint(a, b); !ok {
		return fmt.Errorf("%w: the two ops can be on one chain", ErrBadEvidence)
	}
	l := r.logs[a.Author]
	if !r.loading {
		if l == nil && !r.cfg.Members.IsMember(a.Author) {
			return fmt.Errorf("%w: %s", ErrNotMember, a.Author)
		}
		if a.Verify() != nil || b.Verify() != nil {
			return fmt.Errorf("%w: %w", ErrBadEvidence, ErrBadSignature)
		}
	}
	if l == nil {
		if len(r.logs) >= MaxAuthors {
			return ErrTooManyAuthors
		}
		l = &authorLog{}
		r.logs[a.Author] = l
	}
	r.addEvidence(l, &Evidence{A: a, B: b})
	return nil
}

// unprune puts back the text of a held chat op that was pruned, from a
// copy that has it (the same signed bytes; the text matches their value
// hash, which decoding checked).
func (r *Replica) unprune(op *Op) {
	l := r.logs[op.Author]
	if held := l.ops[op.Seq-1]; held.Pruned && held.hash == op.hash {
		l.ops[op.Seq-1] = op
		r.persist(recOp, op.Encode())
		r.version++
	}
}
