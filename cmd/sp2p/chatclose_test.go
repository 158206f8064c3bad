package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/internal/memlink"
	"github.com/sp2p/sp2p/session"
)

// The chat's last lines, typed just before leaving, that the session
// could not send in time (Close cuts them short): the command fails and
// says they did not reach the peer, instead of leaving as if all was
// sent. Over a link that carries them, the same chat leaves cleanly and
// the peer reads every line.
func TestChatReportsUnsentLines(t *testing.T) {
	t.Parallel()
	lines := "one\ntwo\nthree\n"
	t.Run("slow link", func(t *testing.T) {
		t.Parallel()
		got, stderr, err := chatOver(t, lines, memlink.Faults{BytesPerSecond: 20, SendBuffer: 1})
		if !errors.Is(err, session.ErrSendAborted) || !strings.Contains(err.Error(), "before all your lines were sent") {
			t.Fatalf("chat ended with %v, want ErrSendAborted saying lines were not sent (stderr: %q)", err, stderr)
		}
		warning := strings.Index(stderr, "did not all reach the peer")
		saved := strings.Index(stderr, "saved the peer as bob")
		if warning < 0 || saved < warning {
			t.Fatalf("stderr %q: want the warning about the lost lines, then the peer saved", stderr)
		}
		if len(got) == 3 {
			t.Fatalf("the peer read all %d lines: the link was not slow enough for the test", len(got))
		}
		t.Log(err)
	})
	t.Run("link that carries them", func(t *testing.T) {
		t.Parallel()
		got, stderr, err := chatOver(t, lines, memlink.Faults{})
		if err != nil || strings.Contains(stderr, "did not all reach") {
			t.Fatalf("chat ended with %v (stderr: %q)", err, stderr)
		}
		if !strings.Contains(stderr, "saved the peer as bob") {
			t.Fatalf("stderr %q: the peer was not saved", stderr)
		}
		if strings.Join(got, "\n")+"\n" != lines {
			t.Fatalf("the peer read %q, want the lines %q", got, lines)
		}
	})
}

// chatOver runs the chat of runSession with stdin lines over an
// in-memory link that has faults f once the session is open, and
// returns what the peer read, the chat's stderr and its error.
func chatOver(t *testing.T, lines string, f memlink.Faults) ([]string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := memlink.New(1, memlink.Faults{})
	opts := session.Options{Link: n.Maker(), ResumeWindow: -1}
	alice, _ := identity.Generate()
	bob, _ := identity.Generate()
	sa, sb, err := session.ConnectInProcess(ctx, alice, bob, opts, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	// One message each way first: Alice has then read Bob's first ping,
	// which announces that he reads batches (so that her lines may be
	// queued behind a busy link).
	for _, p := range [][2]*session.Session{{sa, sb}, {sb, sa}} {
		if err := p[0].Send(ctx, []byte("hello")); err != nil {
			t.Fatal(err)
		}
		if _, err := p[1].Receive(ctx); err != nil {
			t.Fatal(err)
		}
	}
	n.SetFaults(f)
	got := make(chan []string, 1)
	go func() {
		var msgs []string
		for {
			m, err := sb.Receive(ctx)
			if err != nil {
				got <- msgs
				return
			}
			msgs = append(msgs, string(m))
		}
	}()
	peers, err := identity.OpenPeers(filepath.Join(t.TempDir(), "peers"))
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	a := &app{stdin: strings.NewReader(lines), stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }}
	err = a.runSession(ctx, sa, &connFlags{savePeer: "bob"}, peers)
	// Alice has closed her end: Bob reads what reached him (the link
	// delivers what it took at the rate it took it), then the end.
	return <-got, stderr.String(), err
}
