package session

import (
	"context"
	"encoding/binary"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/internal/seal"
	"github.com/sp2p/sp2p/invite"
)

func heapMiB() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}

// A peer that starts maximum-size messages and never finishes them is cut
// off at the reassembly limit; memory stays bounded and another session
// carries on.
func TestIncompleteFragmentsBounded(t *testing.T) {
	checkGoroutines(t)
	p := connect(t, mem(), mem())
	other := connect(t, mem(), mem())
	before := heapMiB()
	frag := make([]byte, seal.FragmentHeaderSize+MaxRecord-seal.Overhead-seal.FragmentHeaderSize)
	for id := range uint32(8) {
		binary.BigEndian.PutUint32(frag[0:], id)
		binary.BigEndian.PutUint32(frag[4:], seal.DefaultMaxMessageSize) // 16 MiB, never completed
		binary.BigEndian.PutUint32(frag[8:], uint32(len(frag)-seal.FragmentHeaderSize))
		binary.BigEndian.PutUint32(frag[12:], 0)
		if err := p.offerer.sendRecord(seal.TypeFragment, frag); err != nil {
			break // the receiver already cut us off
		}
	}
	select {
	case <-p.answerer.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the receiver kept accepting unfinished messages")
	}
	if err := p.answerer.Err(); !errors.Is(err, ErrProtocol) || !errors.Is(err, seal.ErrReassemblyMemory) && !errors.Is(err, seal.ErrTooManyPending) {
		t.Fatalf("reason %v, want a protocol error at a reassembly limit", err)
	}
	if grew := heapMiB() - before; grew > float64(seal.DefaultMaxReassemblyBytes>>20)+8 {
		t.Fatalf("heap grew by %.0f MiB, more than the reassembly limit", grew)
	}
	ctx := context.Background()
	if err := other.offerer.Send(ctx, []byte("still fine")); err != nil {
		t.Fatal(err)
	}
	if m, err := other.answerer.Receive(ctx); err != nil || string(m) != "still fine" {
		t.Fatalf("other session: %q %v", m, err)
	}
}

// A slow reader: the sender blocks (backpressure) instead of anything
// queueing without bound, and everything arrives once the reader reads.
func TestSlowReaderBackpressure(t *testing.T) {
	checkGoroutines(t)
	p := connect(t, mem(), mem())
	before := heapMiB()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sent := make(chan int, 1)
	go func() {
		msg := make([]byte, 60_000)
		n := 0
		for ; n < 1500; n++ { // 90 MB if nothing pushed back
			if p.offerer.Send(ctx, msg) != nil {
				break
			}
		}
		sent <- n
	}()
	time.Sleep(2 * time.Second)
	grew := heapMiB() - before
	t.Logf("nobody reading for 2 s: heap grew %.1f MiB", grew)
	if grew > 32 {
		t.Fatalf("heap grew by %.0f MiB while the reader did not read", grew)
	}
	select {
	case n := <-sent:
		t.Fatalf("all %d messages were accepted with nobody reading", n)
	default:
	}
	for range 1500 {
		if _, err := p.answerer.Receive(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := <-sent; n != 1500 {
		t.Fatalf("sent %d", n)
	}
}

// Thousands of invalid answers to a pending invitation are all refused;
// the invitation still works for the real answer, and memory is bounded.
func TestManyInvalidAnswers(t *testing.T) {
	checkGoroutines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alice, bob := testIdentity(t), testIdentity(t)
	inv, err := Invite(ctx, alice, mem())
	if err != nil {
		t.Fatal(err)
	}
	defer inv.Close()
	before := heapMiB()
	other := newOfferFor(t, testIdentity(t))
	for i := range 3000 {
		var text string
		switch i % 3 {
		case 0:
			text = "SP2P:" + string(make([]byte, 100)) // garbage
		case 1: // a valid answer to someone else's invitation
			m := testIdentity(t)
			a, err := invite.NewAnswer(m, other, invite.AnswerParams{Conn: activeCopy(other.Conn)})
			if err != nil {
				t.Fatal(err)
			}
			text = a.Text()
		case 2: // an answer to this invitation, tampered with
			a, err := invite.NewAnswer(testIdentity(t), inv.Offer(), invite.AnswerParams{Conn: activeCopy(inv.Offer().Conn)})
			if err != nil {
				t.Fatal(err)
			}
			b := []byte(a.Text())
			b[len(b)-30] ^= 'A' ^ 'B'
			text = string(b)
		}
		if _, err := inv.ReadAnswer(text); err == nil {
			t.Fatalf("invalid answer %d accepted", i)
		}
	}
	if grew := heapMiB() - before; grew > 16 {
		t.Fatalf("heap grew by %.0f MiB over 3000 invalid answers", grew)
	}
	acc, err := Accept(ctx, bob, inv.Offer(), mem())
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	if _, err := inv.ReadAnswer(acc.Token()); err != nil {
		t.Fatalf("the real answer after 3000 invalid ones: %v", err)
	}
}

func newOfferFor(t *testing.T, id *identity.Identity) *invite.Offer {
	t.Helper()
	inv, err := Invite(context.Background(), id, mem())
	if err != nil {
		t.Fatal(err)
	}
	inv.Close()
	return inv.Offer()
}
