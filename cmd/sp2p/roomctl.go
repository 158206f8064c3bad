package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/room"
)

// A running member of a room listens on a Unix socket in the rooms
// directory (0700, the socket 0600, and on Linux the connecting process
// must run as the same user), so that `sp2p room invite NAME` in another
// terminal makes its invitation there: the newcomer then joins the room
// that is running, with its neighbours. The protocol is one JSON object
// per line, at most ctlMaxLine bytes:
//
//	→ {"op":"invite","to":ID,"ttl_ms":N}   ← {"token":T,"expires":RFC 3339} or {"error":E}
//	→ {"op":"answer","token":T}            ← {"member":ID} once admitted, or {"error":E}
//	→ {"op":"state"}                        ← {"state":{…}} (as room state --json prints it)
//	→ {"op":"export"|"import","file":PATH}  ← {"ops":N,…} or {"error":E}
//
// An answer that cannot be used gets an error and may be followed by
// another; the invitation ends with the connection.
type ctlRequest struct {
	Op    string `json:"op"`
	Room  string `json:"room"` // the room's whole ID in hex: a socket that serves another room refuses
	To    string `json:"to,omitempty"`
	TTLMs int64  `json:"ttl_ms,omitempty"`
	Token string `json:"token,omitempty"`
	File  string `json:"file,omitempty"` // export, import: an absolute path
}

type ctlReply struct {
	State   json.RawMessage `json:"state,omitempty"`
	Ops     int             `json:"ops,omitempty"`
	Taken   int             `json:"taken,omitempty"`
	Skipped int             `json:"skipped,omitempty"`

	Token      string `json:"token,omitempty"`
	Expires    string `json:"expires,omitempty"`
	Member     string `json:"member,omitempty"`
	SafetyCode string `json:"safety_code,omitempty"`
	Error      string `json:"error,omitempty"`
}

const ctlMaxLine = 16 << 10

// ctlMaxReply bounds what a client reads from one connection (a state
// reply holds the whole shared map).
const ctlMaxReply = 64 << 20

// roomRunning reports whether a member of the room answers on path.
func roomRunning(path string) bool {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// serveControl listens on path for `room invite` until ctx ends. If
// another process already serves the room there it says so and returns
// a no-op; a stale socket (nobody listening) is replaced.
func (c *roomChat) serveControl(ctx context.Context, path string) (stop func()) {
	if roomRunning(path) {
		c.a.warnf("this room is open in another sp2p process too; sp2p room invite will use that one")
		return func() {}
	}
	l, fi, err := listenPrivate(path)
	if err != nil {
		c.a.warnf("sp2p room invite cannot reach this room (%v); type /invite here instead", err)
		return func() {}
	}
	var wg sync.WaitGroup
	cctx, cancel := context.WithCancel(ctx)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				if err := sameUser(conn); err != nil {
					c.a.warnf("refused a connection to the room's socket: %v", err)
					return
				}
				c.control(cctx, conn)
			}()
		}
	}()
	go func() { <-cctx.Done(); l.Close() }()
	return func() {
		cancel()
		l.Close()
		wg.Wait()
		// Remove the socket only if it is still ours (another process
		// may have put its own there since).
		if now, err := os.Lstat(path); err == nil && os.SameFile(fi, now) {
			os.Remove(path)
		}
	}
}

// control serves one `room invite` connection.
func (c *roomChat) control(ctx context.Context, conn net.Conn) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { <-ctx.Done(); conn.SetDeadline(time.Now()) }()
	br := bufio.NewReaderSize(conn, ctlMaxLine)
	enc := json.NewEncoder(conn)
	next := func() (ctlRequest, error) {
		var q ctlRequest
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return q, fmt.Errorf("a request longer than %d bytes", ctlMaxLine)
		}
		if err != nil {
			return q, err
		}
		return q, json.Unmarshal(line, &q)
	}
	q, err := next()
	switch {
	case err != nil:
		enc.Encode(ctlReply{Error: "a bad request: " + err.Error()})
		return
	case q.Room != c.rid:
		enc.Encode(ctlReply{Error: "this socket serves another room"})
		return
	case q.Op == "state" || q.Op == "export" || q.Op == "import":
		enc.Encode(c.stateReply(q))
		return
	case q.Op != "invite":
		enc.Encode(ctlReply{Error: "unknown request"})
		return
	}
	to, err := c.a.resolvePeer(c.peers, q.To)
	if err != nil {
		enc.Encode(ctlReply{Error: err.Error()})
		return
	}
	ttl := time.Duration(q.TTLMs) * time.Millisecond
	if ttl < invite.MinLifetime || ttl > invite.MaxLifetime {
		enc.Encode(ctlReply{Error: fmt.Sprintf("lifetime %v: must be from %v to %v", ttl, invite.MinLifetime, invite.MaxLifetime)})
		return
	}
	inv, err := c.r.Invite(ctx, room.InviteOptions{To: to, Lifetime: ttl.Truncate(time.Second)})
	if err != nil {
		enc.Encode(ctlReply{Error: "could not make an invitation: " + err.Error()})
		return
	}
	admitted := false
	defer func() {
		inv.Close()
		if !admitted {
			c.a.infof("the invitation of sp2p room invite is withdrawn (it ended without a newcomer)")
		}
	}()
	exp := inv.Offer().Expires()
	if err := enc.Encode(ctlReply{Token: inv.Token(), Expires: exp.Format(time.RFC3339)}); err != nil {
		return
	}
	c.a.infof("an invitation was made for sp2p room invite (valid until %s)", exp.Local().Format("15:04:05"))
	conn.SetReadDeadline(exp)
	for {
		q, err := next()
		if err != nil {
			return
		}
		if q.Op != "answer" {
			enc.Encode(ctlReply{Error: "expected an answer"})
			continue
		}
		ans, err := inv.ReadAnswer(q.Token)
		if err != nil {
			msg, _ := answerProblem(err)
			enc.Encode(ctlReply{Error: msg})
			continue
		}
		c.a.describePeer("answered by", "newcomer", ans.Answerer, c.peers)
		actx, acancel := context.WithTimeout(ctx, 60*time.Second)
		err = inv.Admit(actx, ans)
		acancel()
		if err != nil {
			enc.Encode(ctlReply{Error: "could not admit the newcomer: " + err.Error()})
			return
		}
		admitted = true
		c.a.infof("admitted; safety code with the newcomer: %s", inv.SafetyCode())
		enc.Encode(ctlReply{Member: ans.Answerer.String(), SafetyCode: inv.SafetyCode()})
		return
	}
}

// inviteThroughRunning runs `room invite` against the member running
// room rid: it prints the invitation, sends the pasted answer there, and
// returns once the newcomer is in. ok is false when nobody listens there.
func (a *app) inviteThroughRunning(ctx context.Context, f *roomFlags, st *roomStore, rid room.ID, to identity.ID, peers *identity.Peers) (ok bool, err error) {
	cl, err := dialControl(ctx, st, rid)
	if err != nil {
		return false, nil
	}
	defer cl.close()
	q := ctlRequest{Op: "invite", TTLMs: f.ttl.Milliseconds()}
	if !to.IsZero() {
		q.To = to.String()
	}
	if err := cl.send(q); err != nil {
		return true, err
	}
	r, err := cl.reply()
	if err != nil {
		return true, err
	}
	if r.Error != "" {
		return true, errors.New(r.Error)
	}
	exp, _ := time.Parse(time.RFC3339, r.Expires)
	if err := a.showToken(&f.conn, "", r.Token, "offer"); err != nil {
		return true, err
	}
	a.infof("invitation into the running room, valid until %s: send it to the newcomer, then paste their answer token here", exp.Local().Format("15:04:05"))
	wctx, cancel := context.WithDeadline(ctx, exp)
	defer cancel()
	pr := newPasteReader(a.stdin)
	for {
		text, err := pr.token(wctx, a.partialToken)
		if errors.Is(err, context.DeadlineExceeded) {
			return true, fmt.Errorf("no answer before the invitation expired: %w", invite.ErrExpired)
		}
		if err != nil {
			return true, fmt.Errorf("reading the answer token: %w", err)
		}
		if _, err := invite.ParseAnswer(text); err != nil {
			a.warnAnswer(explainToken("answer", text, err))
			continue
		}
		if err := cl.send(ctlRequest{Op: "answer", Token: text}); err != nil {
			return true, err
		}
		r, err := cl.reply()
		if err != nil {
			return true, err
		}
		if r.Member != "" {
			id, err := identity.ParseID(r.Member)
			if err != nil {
				return true, fmt.Errorf("the running room sent a bad member ID: %w", err)
			}
			_, shown := (&roomChat{peers: peers}).label(id)
			a.infof("%s joined the room (in the sp2p that runs it); safety code with the newcomer: %s", shown, r.SafetyCode)
			return true, nil
		}
		a.warnf("%s", r.Error)
		a.infof("still waiting for the answer token, until %s", exp.Local().Format("15:04:05"))
	}
}

// warnAnswer says why a pasted answer cannot be used, as readAnswer does.
func (a *app) warnAnswer(err error) {
	msg, detail := answerProblem(err)
	a.warnf("%s", msg)
	if detail != nil {
		a.detailf("%v", detail)
	}
}

// ctlClient is a connection to a running member's control socket.
type ctlClient struct {
	room string // the room's ID in hex, in every request
	ctx  context.Context
	conn net.Conn
	enc  *json.Encoder
	dec  *json.Decoder
	stop func() bool
}

func dialControl(ctx context.Context, st *roomStore, rid room.ID) (*ctlClient, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", st.socket(rid))
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	return &ctlClient{room: hex.EncodeToString(rid[:]), ctx: ctx, conn: conn, enc: json.NewEncoder(conn), dec: json.NewDecoder(io.LimitReader(conn, ctlMaxReply)), stop: stop}, nil
}

func (c *ctlClient) send(q ctlRequest) error {
	q.Room = c.room
	return c.enc.Encode(q)
}

func (c *ctlClient) reply() (ctlReply, error) {
	var r ctlReply
	if err := c.dec.Decode(&r); err != nil {
		if c.ctx.Err() != nil {
			return r, c.ctx.Err()
		}
		return r, fmt.Errorf("the running room stopped answering: %w", err)
	}
	return r, nil
}

func (c *ctlClient) close() {
	c.stop()
	c.conn.Close()
}

// listenPrivate listens on a Unix socket at path that only this user can
// reach: the directory must be this user's and closed to others (it is
// tightened to 0700 if it is not), the socket is made under a temporary
// name, set to 0600 and only then renamed into place, and closing the
// listener does not remove the path (the caller removes it if it is
// still this socket).
func listenPrivate(path string) (net.Listener, os.FileInfo, error) {
	dir := filepath.Dir(path)
	if err := privateDir(dir); err != nil {
		return nil, nil, err
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(dir, "."+hex.EncodeToString(rnd[:])+".sock")
	l, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, nil, err
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		l.Close()
		os.Remove(tmp)
		return nil, nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		l.Close()
		os.Remove(tmp)
		return nil, nil, err
	}
	fi, err := os.Lstat(path)
	if err != nil {
		l.Close()
		return nil, nil, err
	}
	return l, fi, nil
}
