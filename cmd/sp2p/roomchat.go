package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/room"
	"github.com/sp2p/sp2p/roomstate"
	"github.com/sp2p/sp2p/state"
)

// roomChat is a running room on the terminal (or in --json lines).
type roomChat struct {
	a     *app
	r     *room.Room
	f     *roomFlags
	peers *identity.Peers
	rid   string
	store *roomStore // nil: the room is not remembered

	// The room's replicated state (nil when it is off) and when this run
	// entered the room (older chat is history).
	rep      *state.Replica
	sy       *roomstate.Sync
	entered  time.Time
	waitedUp atomic.Bool // the first write waited for the neighbours' state

	saveMu sync.Mutex
	saved  []byte // what the file holds

	mu      sync.Mutex // the output and the pending invitation
	pending *room.Invitation
	enc     *json.Encoder
}

// runRoom runs the room until stdin ends, Ctrl-C, or the room ends
// (removed by the creator).
func (a *app) runRoom(ctx context.Context, r *room.Room, me *identity.Identity, sy *roomstate.Sync, f *roomFlags, peers *identity.Peers) error {
	defer r.Close()
	id := r.ID()
	c := &roomChat{a: a, r: r, f: f, peers: peers, rid: hex.EncodeToString(id[:]), enc: json.NewEncoder(a.stdout), entered: time.Now()}
	if !f.conn.asJSON {
		a.infof("type messages and press Enter; /members, /invite, /quit; Ctrl-D or Ctrl-C to leave")
	}
	if st, err := a.roomStore(); err == nil {
		c.store = st
		c.saved = r.Save() // create, join and invite saved it just now
		lctx, stopSaving := context.WithCancel(ctx)
		defer func() { stopSaving(); c.remember() }()
		go c.rememberLoop(lctx)
		c.openState(me, sy)
		defer c.closeState()
		defer c.serveControl(ctx, st.socket(id))()
	}
	lines := make(chan error, 1)
	a.stdinBusy.Store(true)
	go func() {
		defer a.stdinBusy.Store(false)
		lines <- c.readLines(ctx)
	}()
	events := make(chan error, 1)
	go func() { events <- c.printEvents(ctx) }()
	var err error
	select {
	case err = <-lines:
	case err = <-events:
		if errors.Is(err, room.ErrRemoved) {
			if c.store != nil {
				os.Remove(c.store.file(id))
			}
			return &plainError{msg: "the room's creator removed you from the room (and this machine forgot it)", err: err}
		}
	case <-ctx.Done():
	}
	c.mu.Lock()
	if c.pending != nil {
		c.pending.Close()
	}
	c.mu.Unlock()
	if ctx.Err() != nil || errors.Is(err, room.ErrClosed) {
		return nil
	}
	return err
}

// rememberRoom saves the room under the config directory, for room list
// and room invite; failing that, it says so and goes on.
func (a *app) rememberRoom(r *room.Room) {
	st, err := a.roomStore()
	if err == nil {
		err = st.save(r)
	}
	if err != nil {
		a.warnf("%v (the room will not be in sp2p room list)", err)
	}
}

// remember saves the room's membership records again if they changed
// since the last save (runRoom calls it every few seconds, and at every
// join or removal).
func (c *roomChat) remember() {
	if c.store == nil {
		return
	}
	c.saveMu.Lock()
	defer c.saveMu.Unlock()
	b := c.r.Save()
	if bytes.Equal(b, c.saved) {
		return
	}
	if err := c.store.save(c.r); err != nil {
		c.a.warnf("%v", err)
		return
	}
	c.saved = b
}

// rememberLoop saves the records while the room runs: they change without
// any member joining or leaving (a second admission, a removal of someone
// already out), and events may be dropped under a flood.
func (c *roomChat) rememberLoop(ctx context.Context) {
	t := time.NewTicker(3 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.remember()
		}
	}
}

// label is how a member is shown: its pinned name, or the start of its ID.
func (c *roomChat) label(id identity.ID) (name, shown string) {
	name, _ = c.peers.LookupID(id)
	if name != "" {
		return name, sanitize(name)
	}
	s := id.String()
	return "", s[:min(len(s), 16)] + "…"
}

func (c *roomChat) emit(e roomEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.Room = c.rid
	c.enc.Encode(e)
}

func (c *roomChat) printf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.a.stdout, format, args...)
}

func (c *roomChat) printEvents(ctx context.Context) error {
	asJSON := c.f.conn.asJSON
	for {
		e, err := c.r.Next(ctx)
		if err != nil {
			return err
		}
		switch e.Kind {
		case room.EventMessage:
			c.takeMessage(e.Message)
		case room.EventJoined, room.EventRemoved:
			typ, verb := "joined", "joined the room"
			if e.Kind == room.EventRemoved {
				typ, verb = "left", "was removed from the room"
			}
			c.remember()
			name, shown := c.label(e.Member)
			if asJSON {
				c.emit(roomEvent{Type: typ, Member: e.Member.String(), Name: name})
			} else {
				c.a.infof("%s %s", shown, verb)
			}
		case room.EventNeighbourUp, room.EventNeighbourDown:
			state := "up"
			if e.Kind == room.EventNeighbourDown {
				state = "down"
			}
			name, shown := c.label(e.Member)
			if asJSON {
				c.emit(roomEvent{Type: "neighbour", Member: e.Member.String(), Name: name, State: state})
			} else if state == "up" {
				c.a.infof("connected to %s", shown)
			} else {
				c.a.infof("no longer connected to %s", shown)
			}
		}
	}
}

// readLines sends stdin's lines as messages, runs the commands, and takes
// pasted answer tokens for a pending invitation.
func (c *roomChat) readLines(ctx context.Context) error {
	sc := bufio.NewScanner(c.a.stdin)
	sc.Buffer(make([]byte, 0, 4096), room.MaxPayload+1)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case c.isAnswer(line):
			c.admit(ctx, line)
			continue
		case strings.HasPrefix(line, "//"):
			line = line[1:]
		case strings.HasPrefix(line, "/"):
			quit, err := c.command(ctx, line)
			if err != nil || quit {
				return err
			}
			continue
		case strings.TrimSpace(line) == "":
			continue
		}
		if err := c.say(ctx, line); err != nil {
			if errors.Is(err, room.ErrTooLarge) {
				c.a.warnf("%v: not sent", err)
				continue
			}
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading stdin: %w", err)
	}
	return nil
}

// isAnswer reports whether line is an answer token while an invitation
// waits for one.
func (c *roomChat) isAnswer(line string) bool {
	c.mu.Lock()
	waiting := c.pending != nil
	c.mu.Unlock()
	if !waiting {
		return false
	}
	kind, _, err := invite.Decode(line)
	return err == nil && kind == invite.KindAnswer
}

func (c *roomChat) command(ctx context.Context, line string) (quit bool, err error) {
	fields := strings.Fields(line)
	if c.stateCommand(fields, line) {
		return false, nil
	}
	switch fields[0] {
	case "/quit":
		return true, nil
	case "/members":
		c.members()
	case "/join":
		if len(fields) != 2 {
			c.a.warnf("usage: /join TOKEN (an invitation another member of this room made)")
			return false, nil
		}
		c.reconnect(ctx, fields[1])
	case "/invite":
		who := ""
		if len(fields) > 1 {
			who = fields[1]
		}
		c.invite(ctx, who)
	case "/remove":
		if len(fields) != 2 {
			c.a.warnf("usage: /remove NAME|ID")
			return false, nil
		}
		id, err := c.a.resolvePeer(c.peers, fields[1])
		if err != nil {
			c.a.warnf("%v", err)
			return false, nil
		}
		if err := c.r.Remove(id); err != nil {
			c.a.warnf("%v", err)
			return false, nil
		}
		if c.rep != nil {
			// The removed member's operations end where this member
			// holds them: every member drops what it signs later.
			if _, err := c.rep.Cutoff(id); err != nil {
				c.a.warnf("ending the removed member's state: %v", err)
			}
		}
	default:
		c.a.warnf("unknown command %s (/members, /invite, /join, /remove, /set, /get, /state, /export, /import, /quit; start a message with // to send a leading /)", sanitize(fields[0]))
	}
	return false, nil
}

func (c *roomChat) invite(ctx context.Context, who string) {
	to, err := c.a.resolvePeer(c.peers, who)
	if err != nil {
		c.a.warnf("%v", err)
		return
	}
	inv, err := c.r.Invite(ctx, room.InviteOptions{To: to, Lifetime: c.f.ttl.Truncate(time.Second)})
	if err != nil {
		c.a.warnf("could not make an invitation: %v", err)
		return
	}
	c.mu.Lock()
	if c.pending != nil {
		c.pending.Close()
	}
	c.pending = inv
	c.mu.Unlock()
	if c.f.conn.asJSON {
		c.emit(roomEvent{Type: "invitation", Token: inv.Token()})
	} else {
		c.printf("%s\n", inv.Token())
	}
	c.a.infof("invitation valid until %s: send it to the newcomer, then paste their answer token here", inv.Offer().Expires().Local().Format("15:04:05"))
}

// reconnect takes an invitation from another member of this room (after
// a partition, say, when no session crosses it any more): it prints the
// answer and, once the inviter connects, has a new neighbour.
func (c *roomChat) reconnect(ctx context.Context, text string) {
	offer, err := invite.ParseOffer(text)
	if err != nil {
		c.a.warnf("%v", explainToken("invitation", text, err))
		return
	}
	if !c.r.IsMember(offer.Inviter) {
		c.a.warnf("that invitation is from someone who is not a member of this room (join another room with sp2p room join)")
		return
	}
	c.a.describePeer("invited by", "inviter", offer.Inviter, c.peers)
	rc, err := c.r.Reconnect(ctx, offer)
	if err != nil {
		c.a.warnf("%v", err)
		return
	}
	if c.f.conn.asJSON {
		c.emit(roomEvent{Type: "answer", Token: rc.Token()})
	} else {
		c.printf("%s\n", rc.Token())
	}
	c.a.infof("send this answer token to the inviter (until %s)", offer.Expires().Local().Format("15:04:05"))
	go func() {
		wctx, cancel := context.WithDeadline(ctx, offer.Expires().Add(time.Minute))
		defer cancel()
		if err := rc.Wait(wctx); err != nil {
			rc.Close()
			c.a.warnf("could not reconnect: %v", err)
			return
		}
		c.a.infof("reconnected; safety code with the inviter: %s", rc.SafetyCode())
	}()
}

// admit reads a pasted answer for the pending invitation and admits its
// sender.
func (c *roomChat) admit(ctx context.Context, text string) {
	c.mu.Lock()
	inv := c.pending
	c.mu.Unlock()
	ans, err := inv.ReadAnswer(text)
	if err != nil {
		msg, _ := answerProblem(err)
		c.a.warnf("%s", msg)
		return
	}
	c.mu.Lock()
	if c.pending == inv {
		c.pending = nil
	}
	c.mu.Unlock()
	c.a.describePeer("answered by", "newcomer", ans.Answerer, c.peers)
	go func() {
		actx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		if err := inv.Admit(actx, ans); err != nil {
			c.a.warnf("could not admit the newcomer: %v", err)
			inv.Close()
			return
		}
		c.a.infof("admitted; safety code with the newcomer: %s", inv.SafetyCode())
	}()
}

// members lists the members and, for neighbours, their health.
func (c *roomChat) members() {
	health := map[identity.ID]room.Neighbour{}
	for _, n := range c.r.Neighbours() {
		health[n.ID] = n
	}
	ms := c.r.Members()
	sort.Slice(ms, func(i, j int) bool { return ms[i].String() < ms[j].String() })
	for _, m := range ms {
		name, shown := c.label(m)
		n, isNeighbour := health[m]
		if c.f.conn.asJSON {
			e := roomEvent{Type: "member", Member: m.String(), Name: name}
			if isNeighbour {
				rtt := float64(n.RTT.Microseconds()) / 1000
				mesh, score := n.Mesh, n.Score
				e.Type, e.State = "neighbour", "health"
				e.Mesh, e.Score, e.RTTMs, e.Path, e.BytesIn, e.BytesOut = &mesh, &score, &rtt, n.Path.String(), n.BytesReceived, n.BytesSent
				if n.LossKnown {
					loss := n.Loss
					e.Loss, e.Checks = &loss, n.ChecksSent
				}
			}
			c.emit(e)
			continue
		}
		var notes []string
		if m == c.r.Self() {
			notes = append(notes, "you")
		}
		if m == c.r.Creator() {
			notes = append(notes, "creator")
		}
		if isNeighbour {
			kind := "neighbour"
			if n.Mesh {
				kind = "mesh neighbour"
			}
			loss := "loss unknown yet"
			if n.LossKnown {
				loss = fmt.Sprintf("loss %.0f %% of %d checks", n.Loss*100, n.ChecksSent)
			}
			notes = append(notes, fmt.Sprintf("%s, %s, rtt %.1f ms, %s, score %.1f, %s in / %s out", kind, n.Path, float64(n.RTT.Microseconds())/1000, loss, n.Score, humanBytes(int64(n.BytesReceived)), humanBytes(int64(n.BytesSent))))
		}
		line := shown
		if len(notes) > 0 {
			line += " (" + strings.Join(notes, "; ") + ")"
		}
		c.printf("  %s\n", line)
	}
	if !c.f.conn.asJSON {
		c.printf("  %d members\n", len(ms))
	}
}
