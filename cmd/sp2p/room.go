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

	"github.com/spf13/cobra"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/room"
	"github.com/sp2p/sp2p/roomstate"
	"github.com/sp2p/sp2p/session"
	"github.com/sp2p/sp2p/state"
)

// roomFlags are the flags of the room commands: the connection flags that
// apply to a room, --json, and the lifetime of the invitations /invite
// makes.
type roomFlags struct {
	conn connFlags
	ttl  time.Duration
}

func (f *roomFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	c := &f.conn
	fl.BoolVar(&c.asJSON, "json", false, "print one JSON object per line (messages, joins, neighbours); stdin lines are sent as messages")
	fl.BoolVarP(&c.yes, "yes", "y", false, "do not ask for confirmation of the inviter's identity")
	fl.BoolVar(&c.loopback, "loopback", false, "use loopback addresses only (all members on this machine)")
	fl.BoolVar(&c.relayOnly, "relay-only", false, "connect only through the TURN relay (--turn)")
	fl.StringArrayVar(&c.stun, "stun", nil, "STUN server `URL` (stun:HOST:PORT); repeatable")
	fl.StringArrayVar(&c.turn, "turn", nil, "TURN server `URL` (turn:HOST:PORT[?transport=udp|tcp]); password from $SP2P_TURN_PASSWORD or --turn-password-file")
	fl.StringVar(&c.turnUser, "turn-user", "", "TURN user name")
	fl.StringVar(&c.turnPwFile, "turn-password-file", "", "read the TURN password from the first line of `FILE`")
	fl.DurationVar(&c.heartbeat, "heartbeat", 15*time.Second, "give up on a neighbour not heard from for this long")
	fl.StringVar(&c.qrStyle, "qr-style", "auto", "")
	_ = fl.MarkHidden("qr-style")
	fl.DurationVar(&f.ttl, "ttl", invite.DefaultLifetime, "how long the invitations of /invite stay valid (10s to 24h)")
}

func (a *app) roomCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "room",
		Short: "Rooms: many people in one chat, each joining with one token exchange",
		Long: `A room is a chat of many members with no server. Each newcomer joins with
one token exchange with any member; the room then introduces it to the
others by itself. Every message is signed by its sender, so the members
that pass it on cannot change or forge it.

The rooms you create or join are remembered (sp2p room list): sp2p room
invite NAME invites someone into one, from another terminal while the
room is open, or on its own (it then enters the room).

The room keeps a shared state that every member ends up agreeing on: its
chat history (a member who was away is shown what it missed, marked with
the time) and a key-value map, stored next to the remembered room and
synced with every neighbour.

In the room, type a line to send it. Commands:
  /invite [NAME|ID]   print an invitation; paste the newcomer's answer token
  /join TOKEN         take another member's invitation while in the room (to
                      reconnect after a network split); print the answer
  /members            list the members and the neighbours' health
  /remove NAME|ID     remove a member (the creator only)
  /set KEY VALUE      set KEY in the shared map (VALUE: the rest of the line)
  /get KEY            show KEY's value;  /state  the whole shared map
  /export FILE        write the room's state (every signed operation) to FILE
  /import FILE        take in the operations of a file /export wrote
  /quit               leave (as Ctrl-D)
A line starting with "//" is sent with one "/" fewer.`,
		Example: `  sp2p room create "book club"     # then /invite bob, or in another terminal:
  sp2p room invite "book club" --to bob
  sp2p room join SP2P:AIA...       # (bob) answers, then enters the room
  sp2p room list`,
	}
	cmd.AddCommand(a.roomCreateCmd(), a.roomJoinCmd(), a.roomInviteCmd(), a.roomListCmd(), a.roomForgetCmd(), a.roomStateCmd(), a.roomExportCmd(), a.roomImportCmd())
	return cmd
}

func (a *app) roomCreateCmd() *cobra.Command {
	var f roomFlags
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a room and enter it",
		Example: `  sp2p room create "book club"          # then type /invite bob
  sp2p room create --json "book club"   # events as JSON lines, stdin lines are messages`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signalContext()
			defer stop()
			opts, peers, err := a.roomSetup(&f)
			if err != nil {
				return err
			}
			me, _, err := a.loadIdentity()
			if err != nil {
				return err
			}
			sy := roomstate.New()
			r, err := room.Create(me, args[0], roomOptions(room.Options{Session: opts}, sy))
			if err != nil {
				return &usageError{err}
			}
			a.infof("room %q created (ID %s); /invite [NAME|ID] invites someone", sanitize(r.Name()), r.ID())
			a.rememberRoom(r)
			return a.runRoom(ctx, r, me, sy, &f, peers)
		},
	}
	f.register(cmd)
	return cmd
}

func (a *app) roomJoinCmd() *cobra.Command {
	var f roomFlags
	cmd := &cobra.Command{
		Use:   "join TOKEN|-",
		Short: "Join a room with a member's invitation: print the answer token, enter the room",
		Example: `  sp2p room join SP2P:AIA...
  sp2p room join --json SP2P:AIA...`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signalContext()
			defer stop()
			opts, peers, err := a.roomSetup(&f)
			if err != nil {
				return err
			}
			text := args[0]
			if text == "-" {
				if text, err = readPastedToken(ctx, a.stdin); err != nil {
					return fmt.Errorf("reading the invitation: %w", err)
				}
			}
			offer, err := invite.ParseOffer(text)
			if err != nil {
				return explainToken("invitation", text, err)
			}
			me, _, err := a.loadIdentity()
			if err != nil {
				return err
			}
			a.describePeer("invited by", "inviter", offer.Inviter, peers)
			if _, known := peers.LookupID(offer.Inviter); !known && !f.conn.yes {
				ok, err := a.confirm("Join the room of this inviter?")
				if err != nil {
					return err
				}
				if !ok {
					return errors.New("refused by you: not joining")
				}
			}
			sy := roomstate.New()
			j, err := gather(ctx, a, opts, func(ctx context.Context) (*room.Joining, error) {
				return room.Join(ctx, me, offer, roomOptions(room.Options{Session: opts}, sy))
			})
			if err != nil {
				return err
			}
			defer j.Close()
			if err := a.showToken(&f.conn, "", j.Token(), "answer"); err != nil {
				return err
			}
			a.infof("send this answer token to the inviter; waiting to be admitted (until %s)", offer.Expires().Local().Format("15:04:05"))
			wctx, cancel := context.WithDeadline(ctx, offer.Expires().Add(time.Minute))
			defer cancel()
			r, err := j.Wait(wctx)
			if err != nil {
				return fmt.Errorf("joining the room: %w", err)
			}
			a.infof("joined room %q (ID %s), %d members; safety code with the inviter: %s", sanitize(r.Name()), r.ID(), len(r.Members()), j.SafetyCode())
			a.rememberRoom(r)
			return a.runRoom(ctx, r, me, sy, &f, peers)
		},
	}
	f.register(cmd)
	return cmd
}

// roomSetup checks the flags and returns the session options and the
// known peers.
func (a *app) roomSetup(f *roomFlags) (session.Options, *identity.Peers, error) {
	if f.ttl < invite.MinLifetime || f.ttl > invite.MaxLifetime {
		return session.Options{}, nil, &usageError{fmt.Errorf("--ttl %v: must be from %v to %v", f.ttl, invite.MinLifetime, invite.MaxLifetime)}
	}
	opts, err := a.sessionOptions(&f.conn)
	if err != nil {
		return session.Options{}, nil, err
	}
	peers, err := a.peers()
	return opts, peers, err
}

// roomEvent is a --json line of a room.
type roomEvent struct {
	Type   string `json:"type"`
	Room   string `json:"room,omitempty"`
	From   string `json:"from,omitempty"`
	Member string `json:"member,omitempty"`
	Name   string `json:"name,omitempty"`
	Text   string `json:"text,omitempty"`
	ID     string `json:"id,omitempty"`
	// neighbour events and /members
	State    string   `json:"state,omitempty"` // up, down, or health
	Mesh     *bool    `json:"mesh,omitempty"`
	Score    *float64 `json:"score,omitempty"`
	RTTMs    *float64 `json:"rtt_ms,omitempty"`
	Loss     *float64 `json:"loss,omitempty"` // unanswered share of the path's connectivity checks, 0 to 1
	Checks   uint64   `json:"checks,omitempty"`
	Path     string   `json:"path,omitempty"`
	BytesIn  uint64   `json:"bytes_in,omitempty"`
	BytesOut uint64   `json:"bytes_out,omitempty"`
	Token    string   `json:"token,omitempty"` // an invitation's offer token
	// chat history and the shared map
	History bool    `json:"history,omitempty"` // made before this member came in
	Time    string  `json:"time,omitempty"`
	Key     string  `json:"key,omitempty"`
	Value   *string `json:"value,omitempty"`
	Error   string  `json:"error,omitempty"`
}

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
