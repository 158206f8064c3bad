package session

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sp2p/sp2p/internal/memlink"
	"github.com/sp2p/sp2p/internal/seal"
)

// A resume message is refused when it is the receiver's own role's (a
// reflection, even tagged correctly), and when any one of its bits is
// flipped.
func TestResumeMessageRefusals(t *testing.T) {
	t.Parallel()
	r := otherResumer(t)
	msg := (&resumeMsg{role: seal.Offerer, counter: 7, pub: [32]byte{9}, received: 3}).encode(r)
	if _, err := decodeResume(msg, r, seal.Offerer); err != nil {
		t.Fatal(err)
	}
	if _, err := decodeResume(msg, r, seal.Answerer); !errors.Is(err, ErrResume) {
		t.Fatalf("a reflected message: %v", err)
	}
	for i := range len(msg) * 8 {
		m := append([]byte(nil), msg...)
		m[i/8] ^= 1 << (i % 8)
		if _, err := decodeResume(m, r, seal.Offerer); !errors.Is(err, ErrResume) {
			t.Fatalf("bit %d flipped: %v", i, err)
		}
	}
}

// An ack of more messages than were sent, or of another length than 8
// bytes, ends the session with ErrProtocol.
func TestAckChecks(t *testing.T) {
	checkGoroutines(t)
	for _, payload := range [][]byte{{0, 0, 0, 0, 0, 0, 0, 99}, {0, 0, 0, 1}} {
		n := memlink.New(21, memlink.Faults{})
		p := connect(t, resumeOpts(n, nil), resumeOpts(n, nil))
		waitFor(t, func() bool { return p.offerer.res.peerResumes.Load() })
		if err := p.offerer.sendRecord(seal.TypeAck, payload); err != nil {
			t.Fatal(err)
		}
		select {
		case <-p.answerer.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("ack %x: the session went on", payload)
		}
		if !errors.Is(p.answerer.Err(), ErrProtocol) {
			t.Fatalf("ack %x: %v, want ErrProtocol", payload, p.answerer.Err())
		}
	}
}

// A peer's resume message (tagged by the peer) that says it took more
// messages than this side sent ends the session with ErrProtocol.
func TestResumeReceivedAboveSent(t *testing.T) {
	checkGoroutines(t)
	n := memlink.New(22, memlink.Faults{})
	var mu sync.Mutex
	var recorded [][]byte
	var forge func([]byte) [][]byte
	a := resumeOpts(n, nil)
	a.wrapTransport = func(tr transport) transport {
		return &resumeInjector{transport: tr, mu: &mu, recorded: &recorded, forge: &forge}
	}
	p := connect(t, resumeOpts(n, nil), a)
	mu.Lock()
	forge = func(real []byte) [][]byte {
		m, err := decodeResume(real, p.offerer.res.r, seal.Offerer)
		if err != nil {
			t.Error(err)
			return nil
		}
		m.received = 1 << 40
		return [][]byte{m.encode(p.offerer.res.r)}
	}
	mu.Unlock()
	path, _ := p.offerer.Path()
	if _, ok := n.Move(path.Local); !ok {
		t.Fatal("no anchor")
	}
	select {
	case <-p.answerer.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the session went on")
	}
	if !errors.Is(p.answerer.Err(), ErrProtocol) {
		t.Fatalf("%v, want ErrProtocol", p.answerer.Err())
	}
}
