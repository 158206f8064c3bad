package main

import (
	"strings"
	"testing"
	"time"
)

// Test 3 of the issue "Sessions that survive a network change": both sides
// behind symmetric NATs, so that only the relay connects them, and host A
// gets a new address mid-transfer. Each side's link anchor keeps one TURN
// allocation for the session: B's outlives A's move, so A's new link
// (from a new allocation, its old 5-tuple gone) reaches B's relayed
// address where it was, and B answers from it.
func TestNetnsResumeThroughRelay(t *testing.T) {
	t.Parallel()
	lab := newNetnsLab(t, "symmetric", "symmetric")
	lab.relay()
	run := lab.transferWithEvent(func() {
		lab.run("ha", "ip", "addr", "flush", "dev", "eth0")
		lab.run("ha", "ip", "addr", "add", "10.77.1.3/24", "dev", "eth0")
		lab.run("ha", "ip", "route", "add", "default", "via", "10.77.1.1")
	}, 180*time.Second, "--turn", "turn:198.18.0.1:3478?transport=udp", "--turn-user", "lab", "--relay-only")
	run.intact(t, "new address, through the relay")
	if !strings.Contains(run.s.stderr.String(), "network changed, resuming") {
		t.Errorf("the side that moved did not say so:\n%s", run.s.stderr.String())
	}
}
