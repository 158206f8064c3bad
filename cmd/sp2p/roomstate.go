package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/room"
	"github.com/sp2p/sp2p/roomstate"
	"github.com/sp2p/sp2p/state"
)

// A room's replicated state (package state) lives next to its saved room:
// rooms/<ID>.state. Chat lines are state ops (KindChat): each is published
// as the room message (the op's encoding, so the room's gossip carries it
// at once) and synced with every neighbour (so a member that was away gets
// what it missed, shown as history). /set, /get and /state work on the
// shared map.

// historyKeep is how much chat history a member keeps and shows.
var historyKeep = state.Retention{Messages: 1000, Age: 30 * 24 * time.Hour}

// historySlack: an op made this long before the member entered the room
// is shown as history.
const historySlack = 2 * time.Second

// roomOptions are the room's options with the state sync's handler.
func roomOptions(opts room.Options, sy *roomstate.Sync) room.Options {
	opts.Direct = map[byte]room.DirectHandler{roomstate.Channel: sy.Handler}
	return opts
}

// openState opens the room's replica for this run and attaches it to the
// sync. Without it (the file is locked by another sp2p, unsafe, broken),
// the room still runs, its lines sent as plain room messages: it says so.
func (c *roomChat) openState(me *identity.Identity, sy *roomstate.Sync) {
	if c.store == nil || sy == nil {
		return
	}
	if err := os.MkdirAll(c.store.dir, 0o700); err != nil {
		c.a.warnf("the room's shared state is off: %v", err)
		return
	}
	rep, err := state.Open(c.store.dir, state.Config{
		Room: c.r.ID(), Self: me, Members: c.r, History: historyKeep,
		OnOp: func(op *state.Op) { sy.OnOp(op); c.onOp(op) },
	})
	if err != nil {
		c.a.warnf("the room's shared state is off (no history, /set, /get): %v", err)
		return
	}
	c.rep, c.sy = rep, sy
	sy.Attach(c.r, rep)
}

func (c *roomChat) closeState() {
	if c.sy != nil {
		c.sy.Close()
	}
	if c.rep != nil {
		if err := c.rep.Close(); err != nil {
			c.a.warnf("closing the room's state: %v", err)
		}
	}
}

// say sends a line: as a chat op when the state is on.
func (c *roomChat) say(ctx context.Context, line string) error {
	if c.rep == nil {
		_, err := c.r.Publish(ctx, []byte(line))
		return err
	}
	if len(line) > room.MaxPayload-1024 {
		return fmt.Errorf("%w: a line has at most %d bytes", room.ErrTooLarge, room.MaxPayload-1024)
	}
	c.caughtUp(ctx)
	op, err := c.rep.Chat(line)
	if err != nil {
		return err
	}
	_, err = c.r.Publish(ctx, op.Encode())
	return err
}

// caughtUp waits (a few seconds at most) until no neighbour holds more of
// this member's own log than its file does: writing before would fork it.
func (c *roomChat) caughtUp(ctx context.Context) {
	if c.sy.CaughtUp() || c.waitedUp.Swap(true) {
		return // (a neighbour whose state is off never says: wait once)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if c.sy.WaitCaughtUp(ctx) != nil {
		c.a.warnf("a neighbour says it holds more of your own history than this machine does, and has not sent it in 5 s; writing anyway")
	}
}

// takeMessage takes a room message in: a chat op is taken into the
// replica (and shown by onOp once its author's chain holds); anything else
// is shown as text.
func (c *roomChat) takeMessage(m *room.Message) {
	if c.rep != nil {
		if op, err := state.DecodeOp(m.Data); err == nil {
			if _, errs := c.rep.Take([]*state.Op{op}); len(errs) > 0 {
				c.a.debugState("a chat op from %s was refused: %v", m.From.Fingerprint(), errs[0])
			}
			return
		}
	}
	name, shown := c.label(m.From)
	if c.f.conn.asJSON {
		c.emit(roomEvent{Type: "message", From: m.From.String(), Name: name, Text: string(m.Data), ID: hex.EncodeToString(m.ID[:])})
	} else {
		c.printf("%s: %s\n", shown, sanitize(string(m.Data)))
	}
}

// onOp shows what other members did: chat lines (as history when they
// were made before this member came in) and changes of the shared map.
func (c *roomChat) onOp(op *state.Op) {
	if op.Author == c.r.Self() {
		return
	}
	name, shown := c.label(op.Author)
	at := time.UnixMilli(op.Millis())
	history := at.Before(c.entered.Add(-historySlack))
	id := op.Hash()
	switch op.Kind {
	case state.KindChat:
		if op.Pruned {
			return
		}
		if c.f.conn.asJSON {
			c.emit(roomEvent{Type: "message", From: op.Author.String(), Name: name, Text: string(op.Value), ID: hex.EncodeToString(id[:]), History: history, Time: at.UTC().Format(time.RFC3339)})
			return
		}
		if history {
			c.printf("[%s] %s: %s\n", at.Local().Format("Jan 2 15:04"), shown, sanitize(string(op.Value)))
		} else {
			c.printf("%s: %s\n", shown, sanitize(string(op.Value)))
		}
	case state.KindSet, state.KindDelete:
		if c.f.conn.asJSON {
			e := roomEvent{Type: "set", From: op.Author.String(), Name: name, Key: string(op.Key), ID: hex.EncodeToString(id[:]), History: history}
			if op.Kind == state.KindSet {
				v := string(op.Value)
				e.Value = &v
			}
			c.emit(e)
		} else if !history {
			verb := "set"
			if op.Kind == state.KindDelete {
				verb = "deleted"
			}
			c.a.infof("%s %s %s", shown, verb, sanitize(quoteKey(string(op.Key))))
		}
	}
}

func quoteKey(k string) string { return fmt.Sprintf("%q", k) }

func (a *app) debugState(format string, args ...any) {
	if a.getenv("SP2P_DEBUG") != "" {
		a.infof("debug: "+format, args...)
	}
}

// stateCommand runs /set, /get, /state, /export and /import; ok is false
// for a line that is none of them.
func (c *roomChat) stateCommand(fields []string, line string) (ok bool) {
	switch fields[0] {
	case "/set", "/get", "/state", "/export", "/import":
	default:
		return false
	}
	if c.rep == nil {
		c.a.warnf("%s: the room's shared state is off in this sp2p (see the warning when it started)", fields[0])
		return true
	}
	switch fields[0] {
	case "/set":
		rest := strings.TrimSpace(strings.TrimPrefix(line, "/set"))
		key, value, found := strings.Cut(rest, " ")
		if key == "" || !found {
			c.a.warnf("usage: /set KEY VALUE (the value is the rest of the line)")
			return true
		}
		c.caughtUp(context.Background())
		if _, err := c.rep.Set(key, []byte(value)); err != nil {
			c.a.warnf("%v", err)
		}
	case "/get":
		if len(fields) != 2 {
			c.a.warnf("usage: /get KEY")
			return true
		}
		v, found := c.rep.View().Get(fields[1])
		switch {
		case c.f.conn.asJSON:
			e := roomEvent{Type: "value", Key: fields[1]}
			if found {
				s := string(v)
				e.Value = &s
			}
			c.emit(e)
		case found:
			c.printf("  %s = %s\n", sanitize(quoteKey(fields[1])), sanitize(string(v)))
		default:
			c.printf("  %s is not set\n", sanitize(quoteKey(fields[1])))
		}
	case "/state":
		c.showState(c.rep.View())
	case "/export":
		if len(fields) != 2 {
			c.a.warnf("usage: /export FILE")
			return true
		}
		if err := c.rep.SaveSnapshot(fields[1]); err != nil {
			c.a.warnf("%v", err)
			return true
		}
		c.a.infof("the room's state (%d operations) written to %s", c.rep.Ops(), fields[1])
	case "/import":
		if len(fields) != 2 {
			c.a.warnf("usage: /import FILE")
			return true
		}
		res, err := c.rep.ImportFile(fields[1])
		if err != nil {
			c.a.warnf("%v", err)
			return true
		}
		c.a.infof("imported %s: %d operations, %d new, %d skipped (not by members)", fields[1], res.Ops, res.Taken, res.Skipped)
	}
	return true
}

// stateJSON is the shared map as `room state --json` prints it.
type stateJSON struct {
	Type     string            `json:"type"`
	Room     string            `json:"room"`
	Map      map[string]string `json:"map"`
	Set      []string          `json:"set"`
	Counters map[string]int64  `json:"counters"`
	Messages int               `json:"messages"`
	Forks    []string          `json:"forked_authors,omitempty"`
}

func newStateJSON(rid room.ID, v *state.View, forks []state.Evidence) stateJSON {
	s := stateJSON{Type: "state", Room: hex.EncodeToString(rid[:]), Map: map[string]string{}, Set: v.Set, Counters: v.Counters, Messages: len(v.History)}
	if s.Set == nil {
		s.Set = []string{}
	}
	for k, e := range v.Map {
		s.Map[k] = string(e.Value)
	}
	for _, e := range forks {
		s.Forks = append(s.Forks, e.A.Author.String())
	}
	return s
}

func (c *roomChat) showState(v *state.View) {
	if c.f.conn.asJSON {
		c.mu.Lock()
		c.enc.Encode(newStateJSON(c.r.ID(), v, c.rep.Evidence()))
		c.mu.Unlock()
		return
	}
	printState(func(format string, args ...any) { c.printf(format, args...) }, v, c.rep.Evidence(), c.labelOrYou)
}

// labelOrYou is label, and "you" for this member.
func (c *roomChat) labelOrYou(id identity.ID) (string, string) {
	if id == c.r.Self() {
		return "", "you"
	}
	return c.label(id)
}

// printState prints the shared map, set and counters for a person.
func printState(printf func(string, ...any), v *state.View, forks []state.Evidence, label func(identity.ID) (string, string)) {
	keys := make([]string, 0, len(v.Map))
	for k := range v.Map {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		e := v.Map[k]
		if _, by := label(e.Author); by != "" {
			printf("  %s = %s (set by %s)\n", sanitize(quoteKey(k)), sanitize(string(e.Value)), by)
		} else {
			printf("  %s = %s\n", sanitize(quoteKey(k)), sanitize(string(e.Value)))
		}
	}
	if len(v.Set) > 0 {
		printf("  set: %s\n", sanitize(strings.Join(v.Set, ", ")))
	}
	names := make([]string, 0, len(v.Counters))
	for k := range v.Counters {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		printf("  counter %s = %d\n", sanitize(quoteKey(k)), v.Counters[k])
	}
	printf("  %s, %s kept\n", plural(len(v.Map), "key"), plural(len(v.History), "chat message"))
	for _, e := range forks {
		_, who := label(e.A.Author)
		printf("  WARNING: %s signed two different histories (a fork: kept as evidence; their operations after it do not count)\n", who)
	}
}

// savedMembers is a saved room's membership, for reading its state with
// no room running.
type savedMembers struct{ s *room.Saved }

func (m savedMembers) IsMember(id identity.ID) bool { return m.s.IsMember(id) }
func (m savedMembers) Members() []identity.ID       { return m.s.Members() }
func (m savedMembers) Creator() identity.ID         { return m.s.Creator }

// openSavedState opens a remembered room's state with no room running.
func (a *app) openSavedState(st *roomStore, sr savedRoom) (*state.Replica, error) {
	me, _, err := a.loadIdentity()
	if err != nil {
		return nil, err
	}
	rep, err := state.Open(st.dir, state.Config{Room: sr.ID, Self: me, Members: savedMembers{sr.Saved}, History: historyKeep})
	if err != nil {
		return nil, fmt.Errorf("the room's state: %w", err)
	}
	return rep, nil
}

// stateThroughRunning asks the member running room rid for op ("state",
// "export" or "import", with a file). ok is false when nobody listens.
func stateThroughRunning(ctx context.Context, st *roomStore, rid room.ID, op, file string) (reply ctlReply, ok bool, err error) {
	cl, err := dialControl(ctx, st, rid)
	if err != nil {
		return ctlReply{}, false, nil
	}
	defer cl.close()
	if err := cl.send(ctlRequest{Op: op, File: file}); err != nil {
		return ctlReply{}, true, err
	}
	r, err := cl.reply()
	if err == nil && r.Error != "" {
		err = errors.New(r.Error)
	}
	return r, true, err
}

// stateReply answers a `room state`, `export` or `import` request on the
// control socket.
func (c *roomChat) stateReply(q ctlRequest) ctlReply {
	if c.rep == nil {
		return ctlReply{Error: "the room's shared state is off in the sp2p that runs the room"}
	}
	switch q.Op {
	case "state":
		b, err := json.Marshal(newStateJSON(c.r.ID(), c.rep.View(), c.rep.Evidence()))
		if err != nil {
			return ctlReply{Error: err.Error()}
		}
		return ctlReply{State: b}
	case "export":
		if err := c.rep.SaveSnapshot(q.File); err != nil {
			return ctlReply{Error: err.Error()}
		}
		return ctlReply{Ops: c.rep.Ops()}
	case "import":
		res, err := c.rep.ImportFile(q.File)
		if err != nil {
			return ctlReply{Error: err.Error()}
		}
		return ctlReply{Ops: res.Ops, Taken: res.Taken, Skipped: res.Skipped}
	}
	return ctlReply{Error: "unknown request"}
}

// plural is "1 key", "2 keys".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
