package session

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/sp2p/sp2p/internal/memlink"
	"github.com/sp2p/sp2p/internal/seal"
)

// resumeOpts are memlink options for resumption tests on their own
// network, with a quick heartbeat and the events recorded.
func resumeOpts(n *memlink.Network, ev *events) Options {
	o := Options{Link: n.Maker(), HeartbeatTimeout: 1500 * time.Millisecond, Logger: testLog}
	if ev != nil {
		o.OnNetwork = ev.add
	}
	return o
}

// events records network events.
type events struct {
	mu  sync.Mutex
	got []NetworkEvent
}

func (e *events) add(ev NetworkEvent) {
	e.mu.Lock()
	e.got = append(e.got, ev)
	e.mu.Unlock()
}

func (e *events) count(ev NetworkEvent) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, g := range e.got {
		if g == ev {
			n++
		}
	}
	return n
}

// stream sends count numbered messages of size bytes on s, each a
// different size around size so fragments and batches both occur.
func stream(ctx context.Context, s *Session, count, size int) error {
	for i := range count {
		m := make([]byte, 8+(i*7919)%size)
		binary.BigEndian.PutUint64(m, uint64(i))
		for j := 8; j < len(m); j++ {
			m[j] = byte(i + j)
		}
		if err := s.Send(ctx, m); err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
	}
	return s.CloseWrite()
}

// drain receives until the end and checks every message arrived once,
// in order, intact.
func drain(ctx context.Context, s *Session, count int) error {
	for i := 0; ; i++ {
		m, err := s.Receive(ctx)
		if err != nil {
			if i == count && errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("after %d of %d messages: %w", i, count, err)
		}
		if len(m) < 8 || binary.BigEndian.Uint64(m) != uint64(i) {
			return fmt.Errorf("message %d: got number %d (lost or duplicated)", i, binary.BigEndian.Uint64(m))
		}
		for j := 8; j < len(m); j++ {
			if m[j] != byte(i+j) {
				return fmt.Errorf("message %d: byte %d altered", i, j)
			}
		}
	}
}

// Alice's host moves mid-stream, both ways: the session resumes on a new
// link with no help, every message arrives once, in order, intact, the
// safety code is the same, and both sides said moving and then resumed.
func TestResumeAfterMove(t *testing.T) {
	checkGoroutines(t)
	n := memlink.New(7, memlink.Faults{Delay: time.Millisecond})
	var evO, evA events
	p := connect(t, resumeOpts(n, &evO), resumeOpts(n, &evA))
	code := p.offerer.SafetyCode()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const count, size = 3000, 40 << 10
	errs := make(chan error, 4)
	go func() { errs <- stream(ctx, p.offerer, count, size) }()
	go func() { errs <- stream(ctx, p.answerer, count, size) }()
	go func() { errs <- drain(ctx, p.answerer, count) }()
	go func() { errs <- drain(ctx, p.offerer, count) }()
	waitFor(t, func() bool { return p.answerer.Stats().MessagesReceived > count/4 })
	path, _ := p.offerer.Path()
	start := time.Now()
	if _, ok := n.Move(path.Local); !ok {
		t.Fatalf("no anchor at %v", path.Local)
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("moved after %d messages; all done %v later", count/4, time.Since(start).Round(time.Millisecond))
	for name, ev := range map[string]*events{"offerer": &evO, "answerer": &evA} {
		if ev.count(NetworkMoving) < 1 || ev.count(NetworkResumed) < 1 {
			t.Errorf("%s's events: %v, want moving and resumed", name, ev.got)
		}
	}
	if p.offerer.SafetyCode() != code || p.answerer.SafetyCode() != code {
		t.Fatal("the safety code changed")
	}
	if p.offerer.res.committed < 1 || p.answerer.res.committed < 1 {
		t.Fatalf("link generations %d/%d, want a resumption", p.offerer.res.committed, p.answerer.res.committed)
	}
}

// waitFor polls cond for up to 20 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// An outage longer than the heartbeat, within the resume window: both
// sides move, and resume when it ends; with a shorter window both give up
// with ErrPeerLost.
func TestResumeAfterOutage(t *testing.T) {
	checkGoroutines(t)
	for _, tc := range []struct {
		window time.Duration
		resume bool
	}{{30 * time.Second, true}, {2 * time.Second, false}} {
		n := memlink.New(8, memlink.Faults{})
		o := resumeOpts(n, nil)
		o.ResumeWindow = tc.window
		p := connect(t, o, o)
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
		msg := bytes.Repeat([]byte{1}, 1000)
		if err := p.offerer.Send(ctx, msg); err != nil {
			t.Fatal(err)
		}
		if _, err := p.answerer.Receive(ctx); err != nil {
			t.Fatal(err)
		}
		n.SetOutage(true)
		time.Sleep(5 * time.Second) // past the heartbeat: both sides move
		sent := make(chan error, 1)
		go func() { sent <- p.offerer.Send(ctx, msg) }() // waits for the resumption
		n.SetOutage(false)
		if tc.resume {
			if err := <-sent; err != nil {
				t.Fatalf("send across the outage: %v", err)
			}
			if m, err := p.answerer.Receive(ctx); err != nil || !bytes.Equal(m, msg) {
				t.Fatalf("after the outage: %v", err)
			}
			if p.offerer.res.committed < 1 {
				t.Fatal("no resumption")
			}
		} else {
			for _, s := range []*Session{p.offerer, p.answerer} {
				select {
				case <-s.Done():
				case <-ctx.Done():
					t.Fatal("a side did not give up")
				}
				if !errors.Is(s.Err(), ErrPeerLost) {
					t.Fatalf("reason %v, want ErrPeerLost", s.Err())
				}
			}
		}
		cancel()
	}
}

// testLog is where resumption tests log (SP2P_TEST_LOG=1 shows it).
var testLog = func() *slog.Logger {
	if os.Getenv("SP2P_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}()

// resumeInjector sits under the answerer's record layer: it records the
// offerer's resume messages and, when forge is set, hands the answerer
// forgeries before the real one.
type resumeInjector struct {
	transport
	mu       *sync.Mutex
	recorded *[][]byte
	forge    *func(real []byte) [][]byte
	pending  [][]byte
}

func (j *resumeInjector) readMessage(p []byte) (int, error) {
	if len(j.pending) > 0 {
		m := j.pending[0]
		j.pending = j.pending[1:]
		return copy(p, m), nil
	}
	n, err := j.transport.readMessage(p)
	if err != nil || n != resumeMsgSize || p[0] != resumeMagic {
		return n, err
	}
	real := append([]byte(nil), p[:n]...)
	j.mu.Lock()
	*j.recorded = append(*j.recorded, real)
	forge := *j.forge
	if forge == nil {
		j.mu.Unlock()
		return n, nil
	}
	j.pending = append(forge(real), real)
	j.mu.Unlock()
	m := j.pending[0]
	j.pending = j.pending[1:]
	return copy(p, m), nil
}

// Resume messages that are not the peer's real, current one are refused,
// and the real resumption goes on: one replayed from a recording of an
// earlier resumption, one with an old counter (tagged correctly, as only
// the peer could), one tagged by a third party that saw both tokens but
// holds no session secret, and the real one with a bit flipped (each bit
// position in turn over the runs of the fuzz target; here one in each
// field).
func TestResumeRefusesForgeries(t *testing.T) {
	checkGoroutines(t)
	n := memlink.New(9, memlink.Faults{})
	var mu sync.Mutex
	var recorded [][]byte
	var forge func([]byte) [][]byte
	a := resumeOpts(n, nil)
	a.wrapTransport = func(tr transport) transport {
		return &resumeInjector{transport: tr, mu: &mu, recorded: &recorded, forge: &forge}
	}
	p := connect(t, resumeOpts(n, nil), a)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	roundTrip := func(what string) {
		t.Helper()
		if err := p.offerer.Send(ctx, []byte(what)); err != nil {
			t.Fatal(err)
		}
		if m, err := p.answerer.Receive(ctx); err != nil || string(m) != what {
			t.Fatalf("%s: %q %v", what, m, err)
		}
	}
	move := func() {
		t.Helper()
		path, _ := p.offerer.Path()
		gen := p.answerer.res.committed
		if _, ok := n.Move(path.Local); !ok {
			t.Fatal("no anchor")
		}
		waitFor(t, func() bool {
			p.answerer.res.mu.Lock()
			defer p.answerer.res.mu.Unlock()
			return p.answerer.res.committed > gen && !p.answerer.res.moving
		})
	}
	roundTrip("before")
	move()
	roundTrip("after the first move")
	mu.Lock()
	if len(recorded) < 1 { // more when an attempt failed on a loaded machine
		t.Fatalf("%d resume messages recorded", len(recorded))
	}
	old := recorded[len(recorded)-1]
	forged := 0
	forge = func(real []byte) [][]byte {
		forged++             // under mu (the injector's caller holds it)
		r := p.offerer.res.r // the peer's resumer: what only the peer holds
		var key [32]byte
		key[0] = 9
		oldCounter := (&resumeMsg{role: 0, counter: 1, pub: key, received: 0}).encode(r)
		other := otherResumer(t)
		third := (&resumeMsg{role: 0, counter: 99, pub: key}).encode(other)
		copy(third[4:20], real[4:20]) // even with the real session id
		tampered := append([]byte(nil), real...)
		tampered[30] ^= 0x04 // in the X25519 key
		return [][]byte{old, oldCounter, third, tampered}
	}
	mu.Unlock()
	move()
	roundTrip("after the second move")
	mu.Lock()
	want := int64(4 * forged)
	mu.Unlock()
	if got := p.answerer.res.refused.Load(); got != want || want == 0 {
		t.Fatalf("%d resume messages refused, want %d (4 forgeries before each real one)", got, want)
	}
	if p.answerer.Err() != nil || p.offerer.Err() != nil {
		t.Fatal("a forgery ended the session")
	}
}

// otherResumer is a resumer of another session (keys no one else has).
func otherResumer(t *testing.T) *seal.Resumer {
	t.Helper()
	var tr [32]byte
	k, err := seal.DeriveKeys(bytes.Repeat([]byte{5}, 32), tr, seal.Offerer)
	if err != nil {
		t.Fatal(err)
	}
	return k.Resumer()
}

// The resume message for fixed inputs, byte for byte
// (testdata/resume-message.json, SECURITY.md "Resumption"): the keys of
// testdata/resume-vectors.json, the offerer's message with counter 2, an
// X25519 key of bytes 0x01..0x20 and 1000 messages taken.
func TestResumeMessageVector(t *testing.T) {
	t.Parallel()
	var v struct {
		Shared     []byte `json:"shared"`
		Transcript []byte `json:"transcript"`
	}
	b, err := os.ReadFile("../testdata/resume-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	k, err := seal.DeriveKeys(v.Shared, [32]byte(v.Transcript), seal.Answerer)
	if err != nil {
		t.Fatal(err)
	}
	r := k.Resumer()
	var pub [32]byte
	for i := range pub {
		pub[i] = byte(i + 1)
	}
	got := hex.EncodeToString((&resumeMsg{role: seal.Offerer, counter: 2, pub: pub, received: 1000}).encode(r))
	// And a resume token: the offerer's, one host candidate
	// 192.0.2.1:8080, issued at 2026-01-01T00:00:00Z.
	tok := testResumeToken(r, seal.Offerer, time.UnixMilli(1767225600000))
	const file = "../testdata/resume-message.json"
	if *updateVectors {
		out, _ := json.MarshalIndent(map[string]string{"offerer_resume_message": got, "offerer_resume_token": tok}, "", "  ")
		os.WriteFile(file, append(out, '\n'), 0o644)
	}
	var want map[string]string
	b, err = os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if want["offerer_resume_message"] != got {
		t.Fatalf("resume message\ngot  %s\nwant %s", got, want["offerer_resume_message"])
	}
	if want["offerer_resume_token"] != tok {
		t.Fatalf("resume token\ngot  %s\nwant %s", tok, want["offerer_resume_token"])
	}
	if _, cands, err := decodeResumeToken(tok, r, seal.Offerer); err != nil || len(cands) != 1 || cands[0].Addr.String() != "192.0.2.1:8080" {
		t.Fatalf("decoding the token vector: %v %v", cands, err)
	}
	m, err := decodeResume(mustHex(t, got), r, seal.Offerer)
	if err != nil || m.counter != 2 || m.received != 1000 || m.pub != pub {
		t.Fatalf("decoding the vector: %+v %v", m, err)
	}
	if _, err := decodeResume(mustHex(t, got), r, seal.Answerer); !errors.Is(err, ErrResume) {
		t.Fatalf("the offerer's message taken as the answerer's: %v", err)
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var updateVectors = flag.Bool("update", false, "rewrite testdata/resume-message.json from the implementation")
