//go:build !js

package session

import (
	"testing"
	"time"
)

// Path reports the connectivity checks on the path in use: over a clean
// loopback path every check is answered; when 60 % of the datagrams each
// side sends are dropped, checks go unanswered and Loss rises. The
// in-memory link knows no network path.
func TestPathReportsLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for ICE keepalive checks")
	}
	t.Parallel()
	var f netFaults
	o, a := loopback(), loopback()
	o.faults, a.faults = &f, &f
	p := connect(t, o, a)
	checks := func(min uint64) (got uint64) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			ps, ok := p.offerer.Path()
			if !ok {
				t.Fatal("a pion session reports no path")
			}
			if ps.ChecksSent >= min {
				return ps.ChecksSent
			}
		}
		t.Fatalf("fewer than %d checks in 30 s", min)
		return 0
	}
	sent := checks(3)
	ps, _ := p.offerer.Path()
	if loss, ok := ps.Loss(); !ok || loss != 0 {
		t.Fatalf("loss %v (known %v) on a clean path: %+v", loss, ok, ps)
	}
	if ps.RTT <= 0 || ps.RTT > time.Second {
		t.Errorf("check RTT %v on loopback", ps.RTT)
	}
	f.lossPermille.Store(600)
	checks(sent + 6)
	f.lossPermille.Store(0)
	ps, _ = p.offerer.Path()
	if loss, _ := ps.Loss(); loss <= 0 {
		t.Fatalf("no loss seen with 60 %% of datagrams dropped: %+v", ps)
	}
	t.Logf("after the lossy phase: %+v", ps)

	m := connect(t, mem(), mem())
	if mp, ok := m.offerer.Path(); !ok || !mp.Remote.IsValid() {
		t.Errorf("the in-memory link reports no addresses: %+v", mp)
	} else if _, known := mp.Loss(); known {
		t.Errorf("the in-memory link reports a loss, with no checks to count: %+v", mp)
	}
}
