package main

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Three real processes make a room: Alice creates it and admits Bob with
// one token exchange, Bob admits Carol the same way, and Carol meets Alice
// by an in-band introduction (no third paste). Lines reach everyone, shown
// with the sender's pinned name (JSON lines with --json), escapes from
// other members never reach a terminal raw, /members lists the three, and
// Ctrl-D leaves cleanly.
func TestBinaryRoom(t *testing.T) {
	t.Parallel()
	homeA, homeB, homeC := newHome(t), newHome(t), newHome(t)
	start := func(home string, args ...string) (*exec.Cmd, io.WriteCloser, *syncBuffer, *syncBuffer) {
		return startPiped(t, home, args...)
	}
	idOf := func(home string) string { return strings.SplitN(runBinary(t, home, "", "id").stdout, "\n", 2)[0] }
	carolID := idOf(homeC)
	runBinary(t, homeA, "", "peers", "add", "carol", carolID)
	ca, ina, outa, erra := start(homeA, "room", "create", "book club", "--loopback")
	io.WriteString(ina, "/invite\n")
	var offer string
	waitFor(t, "alice's invitation", func() bool { offer = lastToken(outa, "A")(); return offer != "" })
	_, inb, outb, errb := start(homeB, "room", "join", offer, "--loopback", "--yes")
	var answer string
	waitFor(t, "bob's answer", func() bool { answer = lastToken(outb, "B")(); return answer != "" })
	io.WriteString(ina, answer+"\n")
	waitFor(t, "bob in the room", func() bool { return strings.Contains(errb.String(), "joined room \"book club\"") })

	io.WriteString(inb, "/invite "+carolID+"\n")
	waitFor(t, "bob's invitation", func() bool { offer = lastToken(outb, "A")(); return offer != "" })
	_, inc, outc, errc := start(homeC, "room", "join", offer, "--loopback", "--yes", "--json")
	waitFor(t, "carol's answer", func() bool { answer = lastToken(outc, "B")(); return answer != "" })
	io.WriteString(inb, answer+"\n")
	aliceID := idOf(homeA)
	waitFor(t, "carol introduced to alice", func() bool {
		return strings.Contains(outc.String(), `"type":"neighbour"`) && strings.Contains(outc.String(), `"member":"`+aliceID+`","state":"up"`)
	})

	io.WriteString(ina, "hello from alice\n")
	waitFor(t, "carol to receive", func() bool {
		return strings.Contains(outc.String(), `"type":"message"`) && strings.Contains(outc.String(), `"text":"hello from alice"`)
	})
	waitFor(t, "bob to receive", func() bool { return strings.Contains(outb.String(), ": hello from alice") })
	io.WriteString(inc, "hi all\x1b[2J \u202eevil\n")
	waitFor(t, "alice to receive carol's line under her name", func() bool {
		return strings.Contains(outa.String(), `carol: hi all\x1b[2J \u202eevil`)
	})
	io.WriteString(ina, "/members\n")
	waitFor(t, "the member list", func() bool { return strings.Contains(outa.String(), "3 members") })
	if !strings.Contains(outa.String(), "carol (mesh neighbour, direct") {
		t.Errorf("carol is not listed as a direct mesh neighbour:\n%s", outa.String())
	}
	// The path's loss appears once ICE has checked it (about every 2 s
	// while idle): on loopback, nothing is lost.
	asked := time.Time{}
	waitFor(t, "carol's /members to show the path's loss", func() bool {
		if time.Since(asked) > time.Second {
			io.WriteString(inc, "/members\n")
			asked = time.Now()
		}
		return strings.Contains(outc.String(), `"loss":0,"checks":`)
	})
	for _, out := range []*syncBuffer{outa, outb} {
		if strings.ContainsAny(out.String(), "\x1b\u202e") {
			t.Error("a terminal escape or bidi override from a member reached the terminal")
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(outc.String()), "\n")[1:] {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("--json line is not JSON: %q", line)
		}
	}
	ina.Close() // Ctrl-D
	done := make(chan error, 1)
	go func() { done <- ca.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("alice: %v\n%s", err, erra.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("alice did not leave on Ctrl-D")
	}
	inb.Close()
	inc.Close()
	_ = errc
}
