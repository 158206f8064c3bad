package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/invite"
	"github.com/sp2p/sp2p/room"
	"github.com/sp2p/sp2p/roomstate"
	"github.com/sp2p/sp2p/session"
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
