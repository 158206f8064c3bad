package room

import (
	"errors"
	"time"

	"github.com/sp2p/sp2p/session"
)

// Resume hints. When a neighbour's session is moving and the two cannot
// find each other where they were (both changed networks), each side's
// resume token reaches the other through a common neighbour: a member
// whose session to X has been moving for resumeHintAfter sends its
// token to its other neighbours in a RESUME HINT frame (type 14) naming
// X, flags 0; a neighbour with a session to X passes it on to X, naming
// the sender, flags 1; X hands it to its session with the sender, which
// takes it only if the session's resume secret tags it (so a relay can
// neither forge nor alter one), and tries the addresses in it.
// SECURITY.md, "Rooms", "Resume hints".

// resumeHintAfter is how long a neighbour's session moves before this
// member asks the others to carry its resume token.
const resumeHintAfter = 5 * time.Second

// hintResume sends n's resume token to the other neighbours if n's
// session has been moving long enough (once per move); r.mu is held.
func (r *Room) hintResume(n *neighbour) {
	since, moving := n.s.Moving()
	if !moving || time.Since(since) < resumeHintAfter || n.hinted.Equal(since) {
		return
	}
	tok, err := n.s.ResumeToken()
	if err != nil {
		return
	}
	n.hinted = since
	for _, m := range r.neigh {
		if m != n && m.hello {
			r.send(m, tokenFrame(frameResumeHint, n.id, false, tok), true)
		}
	}
}

// onResumeHint relays a resume token to the neighbour it names, or hands
// one from that neighbour to the session with it; r.mu is held.
func (r *Room) onResumeHint(n *neighbour, f *frame) {
	if !f.needy {
		// To relay, from n to f.peer.
		t := r.neigh[f.peer]
		if t == nil || t == n || !t.hello || !r.relayBudget(n) {
			return
		}
		r.send(t, tokenFrame(frameResumeHint, n.id, true, f.token), true)
		return
	}
	// Delivered: from f.peer, through n.
	t := r.neigh[f.peer]
	if t == nil || t == n {
		return
	}
	// Quick (no network): the session checks the token and starts a new
	// link attempt of its own.
	if err := t.s.UseResumeToken(f.token); err != nil && !errors.Is(err, session.ErrNotMoving) && r.opts.Logger != nil {
		r.opts.Logger.Debug("resume hint not taken", "from", t.id.String(), "reason", err.Error())
	}
}
