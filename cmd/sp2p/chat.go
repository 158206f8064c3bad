package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/session"
)

// event is a --json line.
type event struct {
	Event      string `json:"event"`
	Peer       string `json:"peer,omitempty"`
	Name       string `json:"name,omitempty"`
	SafetyCode string `json:"safety_code,omitempty"`
	Text       string `json:"text,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// runSession prints who is connected, runs the chat or the pipe, and
// closes the session.
func (a *app) runSession(ctx context.Context, s *session.Session, f *connFlags, peers *identity.Peers) error {
	defer s.Close()
	name, _ := peers.LookupID(s.Peer())
	label := name
	if label == "" {
		label = "peer"
	}
	events := a.stdout
	if f.pipe {
		events = a.stderr
	}
	emit := func(e event) {
		if f.asJSON {
			json.NewEncoder(events).Encode(e)
		}
	}
	a.infof("connected to %s (%s)", sanitize(label), s.Peer())
	a.infof("safety code: %s (read it to each other: it must be the same on both sides)", s.SafetyCode())
	emit(event{Event: "connected", Peer: s.Peer().String(), Name: name, SafetyCode: s.SafetyCode()})

	var err error
	if f.pipe {
		err = a.pipe(ctx, s, sanitize(label))
	} else {
		err = a.chat(ctx, s, label, f.asJSON, emit)
	}
	// Close before any prompt: the peer must see the end now. It reports
	// the messages typed last that it could not send (the peer did not
	// take them in time): they are lost, and the command says so.
	closeErr := s.Close()
	reason := "closed"
	if err != nil {
		reason = err.Error()
	} else if closeErr != nil {
		reason = closeErr.Error()
	}
	emit(event{Event: "disconnected", Peer: s.Peer().String(), Reason: reason})
	if err == nil && closeErr != nil {
		// Said before the pin question, which Ctrl-C may end.
		who := "the peer"
		if name != "" {
			who = sanitize(name)
		}
		a.warnf("the last lines you typed did not all reach %s before the chat closed (the connection was too slow to send them in time); they are lost", who)
	}
	if err == nil {
		err = a.savePeer(s.Peer(), name, f, peers)
	}
	if err == nil && closeErr != nil {
		err = &plainError{"the chat closed before all your lines were sent", closeErr}
	}
	return err
}

// pipe joins stdin and stdout to the session. EOF on stdin ends only the
// sending direction; it returns when both directions have ended. When one
// direction ends first it says so on stderr, and what ends the session.
func (a *app) pipe(ctx context.Context, s *session.Session, label string) error {
	conn := s.Conn()
	sent := make(chan error, 1)
	go func() {
		_, err := io.Copy(conn, a.stdin)
		if err == nil {
			err = conn.CloseWrite()
		}
		sent <- err
	}()
	recvd := make(chan error, 1)
	go func() {
		_, err := io.Copy(a.stdout, conn)
		recvd <- err
	}()
	var sendDone, recvDone bool
	for !sendDone || !recvDone {
		select {
		case err := <-sent:
			sendDone = true
			if err != nil {
				return err
			}
			if !recvDone {
				a.infof("your input has ended and is all sent; waiting for %s to finish sending (Ctrl-C ends the session)", label)
			}
		case err := <-recvd:
			recvDone = true
			if err != nil {
				return err
			}
			if !sendDone {
				a.infof("%s has finished sending; the session ends when your input ends (Ctrl-D on a terminal) or on Ctrl-C", label)
			}
		case <-ctx.Done():
			return nil // Ctrl-C: close cleanly
		}
	}
	return nil
}

// chat runs a line chat: lines typed are sent, messages received are
// printed with the peer's name. Ctrl-D or Ctrl-C ends it.
func (a *app) chat(ctx context.Context, s *session.Session, label string, asJSON bool, emit func(event)) error {
	a.infof("type messages and press Enter; Ctrl-D or Ctrl-C to leave")
	lines := make(chan error, 1)
	a.stdinBusy.Store(true)
	go func() {
		defer a.stdinBusy.Store(false)
		sc := bufio.NewScanner(a.stdin)
		sc.Buffer(make([]byte, 0, 4096), 1<<20)
		for sc.Scan() {
			if err := s.Send(ctx, []byte(sc.Text())); err != nil {
				lines <- err
				return
			}
		}
		lines <- sc.Err()
	}()
	msgs := make(chan error, 1)
	go func() {
		for {
			m, err := s.Receive(ctx)
			if err != nil {
				msgs <- err
				return
			}
			if asJSON {
				emit(event{Event: "message", Peer: s.Peer().String(), Text: string(m)})
			} else {
				fmt.Fprintf(a.stdout, "%s: %s\n", sanitize(label), sanitize(string(m)))
			}
		}
	}()
	var err error
	select {
	case err = <-lines: // Ctrl-D: we leave; Close tells the peer
	case err = <-msgs:
		if errors.Is(err, io.EOF) {
			a.infof("%s left", sanitize(label))
			return nil
		}
	case <-ctx.Done():
	}
	if ctx.Err() != nil {
		// Ctrl-C leaves as Ctrl-D does, even when Send or Receive saw the
		// cancelled context first.
		return nil
	}
	return err
}

// savePeer offers to pin an unknown peer after a session (a chat or a
// file transfer): under --save-peer NAME, or by asking on the terminal
// when a person is there. Its only error is errInterrupted: Ctrl-C at the
// question (nothing is saved).
func (a *app) savePeer(id identity.ID, known string, f *connFlags, peers *identity.Peers) error {
	if known != "" {
		return nil
	}
	name := f.savePeer
	// Ask only when a person types the input (stdin is a terminal, not a
	// script) and nothing else reads the terminal: while the chat's reader
	// still waits for a line, it would take the answer.
	if name == "" && !f.pipe && !f.asJSON && a.stdinIsTerminal() && !a.stdinBusy.Load() {
		var err error
		name, err = a.askLine("Pin this peer for next time? Name (Enter to skip): ")
		if errors.Is(err, errInterrupted) {
			return err
		}
	}
	if name == "" {
		if f.savePeer == "" && !f.pipe && !f.asJSON {
			a.infof("hint: pin this peer for next time: sp2p peers add NAME %s", id)
		}
		return nil
	}
	if err := peers.Add(name, id); err != nil {
		a.warnf("could not save the peer: %v", err)
		return nil
	}
	a.infof("saved the peer as %s", name)
	a.storePairing(f, id) // lan.go: the LAN finds this peer next time
	return nil
}

// stdinIsTerminal reports whether standard input is a terminal.
func (a *app) stdinIsTerminal() bool {
	file, ok := a.stdin.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}
