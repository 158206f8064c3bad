package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sp2p/sp2p/invite"
)

// Test 3 of the issue "Sessions that survive a network change": both sides
// behind symmetric NATs, so that only the relay connects them, and host A
// gets a new address mid-transfer. Each side's link anchor keeps one TURN
// allocation for the session: B's outlives A's move, so A's new link
// (from a new allocation, its old 5-tuple gone) reaches B's relayed
// address where it was, and B answers from it.
func TestNetnsResumeThroughRelay(t *testing.T) {
	t.Parallel()
	resumeThroughRelay(t, "new address, through sp2p relay", (*netnsLab).relay)
}

// The same through coturn (the README's configuration), which answers
// the anchor's checks of its allocations as its own implementation of
// TURN does.
func TestNetnsResumeThroughCoturn(t *testing.T) {
	t.Parallel()
	resumeThroughRelay(t, "new address, through coturn", (*netnsLab).coturn)
}

func resumeThroughRelay(t *testing.T, what string, server func(*netnsLab)) {
	t.Helper()
	lab := newNetnsLab(t, "symmetric", "symmetric")
	server(lab)
	tokens := t.TempDir()
	offerFile, answerFile := filepath.Join(tokens, "offer"), filepath.Join(tokens, "answer")
	run := lab.transferWithEvent(func() {
		lab.run("ha", "ip", "addr", "flush", "dev", "eth0")
		lab.run("ha", "ip", "addr", "add", "10.77.1.3/24", "dev", "eth0")
		lab.run("ha", "ip", "route", "add", "default", "via", "10.77.1.1")
	}, 180*time.Second, "--turn", "turn:198.18.0.1:3478?transport=udp", "--turn-user", "lab", "--relay-only",
		"--offer-file", offerFile, "--answer-file", answerFile) // (the last of a repeated flag counts)
	run.intact(t, what)
	if !strings.Contains(run.s.stderr.String(), "network changed, resuming") {
		t.Errorf("the side that moved did not say so:\n%s", run.s.stderr.String())
	}

	// Where the sides' relayed addresses were (the tokens) and where the
	// resumed path runs (what each side said): B's is where it was, A's
	// is new.
	relayOf := func(name string) string {
		raw, err := os.ReadFile(filepath.Join(tokens, name))
		if err != nil {
			t.Fatal(err)
		}
		var cands []invite.Candidate
		if o, err := invite.ParseOffer(string(raw)); err == nil {
			cands = o.Conn.Candidates
		} else if a, err := invite.ParseAnswer(string(raw)); err == nil {
			cands = a.Conn.Candidates
		} else {
			t.Fatalf("%s token: %v", name, err)
		}
		if len(cands) != 1 || cands[0].Type != invite.Relay {
			t.Fatalf("%s token carries %v, not one relay candidate", name, cands)
		}
		return cands[0].Addr.String()
	}
	path := regexp.MustCompile(`resumed after .*\(new path: ([0-9.:]+)\)`)
	newPath := func(p *proc) string {
		m := path.FindAllStringSubmatch(p.stderr.String(), -1)
		if len(m) == 0 {
			t.Fatalf("no resumed path in:\n%s", p.stderr.String())
		}
		return m[len(m)-1][1]
	}
	relayA, relayB := relayOf("offer"), relayOf("answer")
	if got := newPath(run.s); got != relayB {
		t.Errorf("A resumed to %s, not to B's relayed address %s", got, relayB)
	}
	if got := newPath(run.r); got == relayA {
		t.Errorf("B resumed to A's old relayed address %s", got)
	}
}
