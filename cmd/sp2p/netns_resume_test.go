package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Resumption across real network changes (issue "Sessions that survive a
// network change"): a 64 MiB transfer from host A to host B in the
// namespace lab, an event once 4 MiB have arrived, and the transfer must
// complete intact with no user action. Each test reports the time from
// the event to the "resumed" message and to data flowing again.

// publicB gives host B a routable address (no NAT in front of it): the
// side that does not move must be reachable where it was.
func (l *netnsLab) publicB() {
	l.t.Helper()
	for _, c := range [][]string{
		{"rb", "nft", "delete", "table", "ip", "nat"},
		{"ra", "ip", "route", "add", "10.77.2.0/24", "via", "198.18.0.3"},
		{"pub", "ip", "route", "add", "10.77.2.0/24", "via", "198.18.0.3"},
	} {
		l.run(c[0], c[1:]...)
	}
}

// run runs a command in a namespace of the lab.
func (l *netnsLab) run(n string, args ...string) {
	l.t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", l.prefix + "-" + n}, args...)...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("%s: %v: %v\n%s", n, args, err, out)
	}
}

// resumeRun is one transfer with an event in the middle.
type resumeRun struct {
	s, r         *proc
	codeS, codeR int
	out          string
	data         []byte
	// toFlowing is the time from the event to the first bytes after the
	// stall it caused (zero: no stall of 500 ms or more); resumed is what
	// the sides said ("resumed after …").
	toFlowing time.Duration
	resumed   []string
}

// transferWithEvent starts the transfer, calls event once 4 MiB have
// arrived, and waits for both sides (limit each).
func (l *netnsLab) transferWithEvent(event func(), limit time.Duration, extra ...string) *resumeRun {
	l.t.Helper()
	run := &resumeRun{data: randomBytes(64 << 20), out: l.t.TempDir()}
	homeA, homeB := newHome(l.t), newHome(l.t)
	dir := l.t.TempDir()
	src := filepath.Join(dir, "payload.bin")
	os.WriteFile(src, run.data, 0o644)
	common := append([]string{"--yes", "--offer-file", filepath.Join(dir, "offer"), "--answer-file", filepath.Join(dir, "answer"),
		"--stun", "stun:198.18.0.1:3478"}, extra...)
	run.s = l.start("ha", homeA, nil, append(append([]string{"send"}, common...), src)...)
	run.r = l.start("hb", homeB, nil, append([]string{"receive", "--out", run.out}, common...)...)
	waitForBytes(l.t, run.out, 4<<20)
	start := time.Now()
	event()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() { // watch the bytes arrive: a stall, then data again
		defer wg.Done()
		size, lastGrow, stalled := dirBytes(run.out), time.Now(), false
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			n := dirBytes(run.out)
			if n == size {
				stalled = stalled || time.Since(lastGrow) >= 500*time.Millisecond
				continue
			}
			size, lastGrow = n, time.Now()
			if stalled {
				run.toFlowing = time.Since(start)
				return
			}
		}
	}()
	run.codeS = run.s.wait(l.t, limit)
	run.codeR = run.r.wait(l.t, limit)
	close(stop)
	wg.Wait()
	for _, p := range []*proc{run.s, run.r} {
		for _, line := range strings.Split(p.stderr.String(), "\n") {
			if i := strings.Index(line, "resumed after"); i >= 0 {
				run.resumed = append(run.resumed, line[i:])
			}
		}
	}
	return run
}

// dirBytes is the total size of the files in dir.
func dirBytes(dir string) int64 {
	var n int64
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if fi, err := e.Info(); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// intact fails the test unless both sides succeeded and the file arrived
// whole.
func (run *resumeRun) intact(t *testing.T, what string) {
	t.Helper()
	if run.codeS != 0 || run.codeR != 0 {
		t.Fatalf("%s: exit %d/%d\nsender:\n%s\nreceiver:\n%s", what, run.codeS, run.codeR, run.s.stderr.String(), run.r.stderr.String())
	}
	got, _ := os.ReadFile(filepath.Join(run.out, "payload.bin"))
	if !bytes.Equal(got, run.data) {
		t.Fatalf("%s: the file differs (%d bytes of %d)", what, len(got), len(run.data))
	}
	if len(run.resumed) == 0 {
		t.Fatalf("%s: the transfer completed but neither side said it resumed:\nsender:\n%s\nreceiver:\n%s", what, run.s.stderr.String(), run.r.stderr.String())
	}
	if os.Getenv("SP2P_TEST_SHOW") != "" { // what the people at both ends saw
		t.Logf("sender:\n%s\nreceiver:\n%s", run.s.stderr.String(), run.r.stderr.String())
	}
	t.Logf("%s: 64 MiB intact; data flowing again %v after the event; the sides said %q", what,
		run.toFlowing.Round(10*time.Millisecond), run.resumed)
}

// Test 1: host A gets a new address mid-transfer (the old one removed, a
// new one added, a new route; its router's NAT mapping changes with it).
func TestNetnsResumeAfterAddressChange(t *testing.T) {
	t.Parallel()
	lab := newNetnsLab(t, "cone", "cone")
	lab.relay()
	lab.publicB()
	run := lab.transferWithEvent(func() {
		lab.run("ha", "ip", "addr", "flush", "dev", "eth0")
		lab.run("ha", "ip", "addr", "add", "10.77.1.3/24", "dev", "eth0")
		lab.run("ha", "ip", "route", "add", "default", "via", "10.77.1.1")
	}, 180*time.Second)
	run.intact(t, "new address")
	if !strings.Contains(run.s.stderr.String(), "network changed, resuming") {
		t.Errorf("the side that moved did not say so:\n%s", run.s.stderr.String())
	}
}

// Test 2: A's router drops its NAT mappings (conntrack flushed) and maps
// anew from random ports.
func TestNetnsResumeAfterNATRebinding(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("conntrack"); err != nil {
		t.Skip("needs conntrack (apt-get install conntrack)")
	}
	lab := newNetnsLab(t, "cone", "cone")
	lab.relay()
	lab.publicB()
	run := lab.transferWithEvent(func() {
		lab.nft("ra", "flush table ip nat\ntable ip nat {\n  chain post {\n    type nat hook postrouting priority srcnat;\n    oifname \"wan\" masquerade random\n  }\n}\n")
		lab.run("ra", "conntrack", "-F")
	}, 180*time.Second)
	run.intact(t, "NAT rebinding")
}

// Test 4: a 60-second total outage of A's router, within the resume
// window: the session resumes when the link returns; with the window
// shorter than the outage, both sides give up with the lost-peer error
// and the receiver keeps a part file to resume from.
func TestNetnsResumeAfterLongOutage(t *testing.T) {
	t.Parallel()
	for _, window := range []time.Duration{0, 20 * time.Second} {
		t.Run(fmt.Sprintf("window=%v", window), func(t *testing.T) {
			t.Parallel()
			lab := newNetnsLab(t, "cone", "cone")
			lab.relay()
			var extra []string
			if window > 0 {
				extra = []string{"--resume-window", window.String()}
			}
			ended, restored := make(chan struct{}), make(chan struct{})
			run := lab.transferWithEvent(func() {
				lab.nft("ra", dropForwarded("cut", 100))
				go func() {
					defer close(restored)
					select {
					case <-time.After(60 * time.Second):
						lab.run("ra", "nft", "delete", "table", "ip", "cut")
					case <-ended: // both sides gave up first
					}
				}()
			}, 240*time.Second, extra...)
			close(ended)
			<-restored
			if window == 0 {
				run.intact(t, "60 s outage")
				return
			}
			if run.codeS != 1 || run.codeR != 1 {
				t.Fatalf("exit %d/%d with a %v window, want 1/1\nsender:\n%s\nreceiver:\n%s", run.codeS, run.codeR, window, run.s.stderr.String(), run.r.stderr.String())
			}
			for _, p := range []*proc{run.s, run.r} {
				if !strings.Contains(p.stderr.String(), "could not resume") {
					t.Errorf("no clear give-up:\n%s", p.stderr.String())
				}
			}
			parts, _ := filepath.Glob(filepath.Join(run.out, "*.sp2p-part"))
			if _, err := os.Stat(filepath.Join(run.out, "payload.bin")); err == nil || len(parts) != 1 {
				t.Fatalf("after giving up: parts %v, final file present: %v", parts, err == nil)
			}
			t.Logf("%v window: both gave up (%s)", window, lastLine(run.r.stderr.String()))
		})
	}
}

// startSync is start with output a test may read while the process runs.
func (l *netnsLab) startSync(n, home string, args ...string) (*exec.Cmd, *syncBuffer) {
	l.t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.prefix + "-" + n, sp2pBinary}, args...)...)
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
	errb := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = io.Discard, errb
	if err := cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd, errb
}

// resumeTokenIn returns the resume token a process printed, or "".
func resumeTokenIn(b *syncBuffer) string {
	for _, line := range strings.Split(b.String(), "\n") {
		if _, tok, ok := strings.Cut(line, "sp2p resume "); ok && strings.HasPrefix(tok, "sp2p-resume:") {
			return strings.TrimSpace(tok)
		}
	}
	return ""
}

// Both hosts change addresses at once (and their NAT mappings with
// them): neither finds the other where it was. After a while each side
// prints its resume token; `sp2p resume` with it on the other host brings
// the transfer back, and it completes intact.
func TestNetnsResumeTokenBothMoved(t *testing.T) {
	t.Parallel()
	lab := newNetnsLab(t, "cone", "cone")
	lab.relay()
	data := randomBytes(64 << 20)
	homeA, homeB := newHome(t), newHome(t)
	dir, out := t.TempDir(), t.TempDir()
	src := filepath.Join(dir, "payload.bin")
	os.WriteFile(src, data, 0o644)
	common := []string{"--yes", "--offer-file", filepath.Join(dir, "offer"), "--answer-file", filepath.Join(dir, "answer"), "--stun", "stun:198.18.0.1:3478"}
	s, serr := lab.startSync("ha", homeA, append(append([]string{"send"}, common...), src)...)
	r, rerr := lab.startSync("hb", homeB, append([]string{"receive", "--out", out}, common...)...)
	waitForBytes(t, out, 4<<20)
	start := time.Now()
	for _, h := range []struct{ ns, addr, gw string }{{"ha", "10.77.1.3/24", "10.77.1.1"}, {"hb", "10.77.2.3/24", "10.77.2.1"}} {
		lab.run(h.ns, "ip", "addr", "flush", "dev", "eth0")
		lab.run(h.ns, "ip", "addr", "add", h.addr, "dev", "eth0")
		lab.run(h.ns, "ip", "route", "add", "default", "via", h.gw)
	}
	var tokA, tokB string
	waitFor(t, "both sides' resume tokens", func() bool {
		tokA, tokB = resumeTokenIn(serr), resumeTokenIn(rerr)
		return tokA != "" && tokB != ""
	})
	shown := time.Since(start)
	for _, c := range []struct {
		ns, home, tok string
	}{{"hb", homeB, tokA}, {"ha", homeA, tokB}} {
		cmd := exec.Command("ip", "netns", "exec", lab.prefix+"-"+c.ns, sp2pBinary, "resume", c.tok)
		cmd.Env = []string{"HOME=" + c.home, "PATH=" + os.Getenv("PATH")}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sp2p resume in %s: %v\n%s", c.ns, err, out)
		}
	}
	codeS := waitExit(t, s, 120*time.Second, serr.String)
	codeR := waitExit(t, r, 120*time.Second, rerr.String)
	if codeS != 0 || codeR != 0 {
		t.Fatalf("exit %d/%d\nsender:\n%s\nreceiver:\n%s", codeS, codeR, serr.String(), rerr.String())
	}
	got, _ := os.ReadFile(filepath.Join(out, "payload.bin"))
	if !bytes.Equal(got, data) {
		t.Fatal("the file differs")
	}
	t.Logf("both moved: tokens shown %v after the change, transfer done %v after it", shown.Round(100*time.Millisecond), time.Since(start).Round(100*time.Millisecond))
}
