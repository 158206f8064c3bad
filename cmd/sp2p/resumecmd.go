package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/sp2p/sp2p/session"
)

// When both sides of a session changed networks (or only a relay joined
// them), neither finds the other where it was. After resumeHintAfter of
// trying, each side shows its resume token; `sp2p resume TOKEN`, run on
// the other machine, hands it to the sp2p there through a Unix socket in
// the sessions directory next to the identity (0700, the socket 0600, the
// same user on Linux), named after the session's resume id. One JSON
// object per line, at most resumeCtlMax bytes:
//
//	→ {"op":"resume","token":T}   ← {"ok":true} or {"error":E}
const (
	resumeHintAfter = 15 * time.Second
	resumeCtlMax    = 4 << 10
)

type resumeRequest struct {
	Op    string `json:"op"`
	Token string `json:"token"`
}

type resumeReply struct {
	OK    bool   `json:"ok,omitempty"`
	Error string `json:"error,omitempty"`
}

// sessionSocket is where the process whose session has resume id id
// listens.
func (a *app) sessionSocket(id [8]byte) (string, error) {
	p, err := a.idPath()
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(p), "sessions", hex.EncodeToString(id[:])+".sock"), nil
}

func (a *app) resumeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "resume TOKEN",
		Short: "Give a moving session the peer's resume token",
		Long: `When both sides of a session changed networks, neither can find the
other on its own, and after a while each side's sp2p prints a resume
token. Run this on the other machine with that token: the sp2p there
(the one whose session it is) tries the addresses in it, and the session
goes on where it was. The token carries network addresses only, tagged
so that only the session's peer could have made it.`,
		Example: `  sp2p resume sp2p-resume:AQDtbki8…`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := session.ResumeTokenID(args[0])
			if err != nil {
				return &usageError{err}
			}
			path, err := a.sessionSocket(id)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			var d net.Dialer
			conn, err := d.DialContext(ctx, "unix", path)
			if err != nil {
				return &plainError{"no sp2p on this machine is resuming that session (is the token for this machine, and is its sp2p still running?)", err}
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			if err := json.NewEncoder(conn).Encode(resumeRequest{Op: "resume", Token: args[0]}); err != nil {
				return err
			}
			var r resumeReply
			if err := json.NewDecoder(io.LimitReader(conn, resumeCtlMax)).Decode(&r); err != nil {
				return fmt.Errorf("the resuming sp2p did not answer: %w", err)
			}
			if r.Error != "" {
				return fmt.Errorf("the resuming sp2p refused the token: %s", r.Error)
			}
			a.infof("token handed over: the session tries the peer's new addresses now")
			return nil
		},
	}
}

// watchResume runs beside an open session until it ends: when the
// session has been moving for resumeHintAfter, it shows this side's
// resume token and takes the peer's from `sp2p resume`.
func (a *app) watchResume(s *session.Session) {
	id, ok := s.ResumeID()
	if !ok {
		return
	}
	path, err := a.sessionSocket(id)
	if err != nil {
		return
	}
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		var stop func()
		defer func() {
			if stop != nil {
				stop()
			}
		}()
		for {
			select {
			case <-s.Done():
				return
			case <-tick.C:
			}
			since, moving := s.Moving()
			if !moving {
				if stop != nil {
					stop()
					stop = nil
				}
				continue
			}
			if stop != nil || time.Since(since) < resumeHintAfter {
				continue
			}
			tok, err := s.ResumeToken()
			if err != nil {
				continue
			}
			stop, err = serveResume(path, s)
			if err != nil {
				a.warnf("cannot take the peer's resume token here: %v", err)
				stop = func() {}
			}
			a.warnf("the peer is not where it was (its network may have changed too); on the peer's machine, run:")
			a.infof("  sp2p resume %s", tok)
		}
	}()
}

// serveResume listens on path for `sp2p resume` until stop.
func serveResume(path string, s *session.Session) (stop func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	l, fi, err := listenPrivate(path)
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				enc := json.NewEncoder(c)
				if err := sameUser(c); err != nil {
					enc.Encode(resumeReply{Error: err.Error()})
					return
				}
				line, err := bufio.NewReaderSize(io.LimitReader(c, resumeCtlMax), resumeCtlMax).ReadBytes('\n')
				var q resumeRequest
				if err == nil {
					err = json.Unmarshal(line, &q)
				}
				switch {
				case err != nil:
					enc.Encode(resumeReply{Error: "not a request: " + err.Error()})
				case q.Op != "resume":
					enc.Encode(resumeReply{Error: fmt.Sprintf("unknown op %q", q.Op)})
				default:
					if err := s.UseResumeToken(q.Token); err != nil {
						enc.Encode(resumeReply{Error: err.Error()})
						return
					}
					enc.Encode(resumeReply{OK: true})
				}
			}()
		}
	}()
	return func() {
		l.Close()
		if now, err := os.Lstat(path); err == nil && os.SameFile(now, fi) {
			os.Remove(path)
		}
	}, nil
}
