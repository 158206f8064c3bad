package session

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// TestRtxBufCopies: the retransmission buffer keeps copies of what was
// sent, whatever the caller does with its buffer afterwards, packed into
// chunks of the session's own without one copy running into the next;
// acknowledged messages go, an idle buffer keeps no chunk, and from gives
// back exactly the messages not yet taken.
func TestRtxBufCopies(t *testing.T) {
	t.Parallel()
	b := newRtxBuf(4 << 20)
	msg := make([]byte, 0, 64<<10)
	var want [][]byte
	sizes := []int{0, 1, 100, 3000, rtxOwnCopy, rtxOwnCopy + 1, 40 << 10, 100, 7}
	for i := 0; i < 400; i++ {
		n := sizes[i%len(sizes)]
		msg = msg[:n]
		for j := range msg {
			msg[j] = byte(i + j)
		}
		b.add(msg, false)
		want = append(want, bytes.Clone(msg))
		for j := range msg {
			msg[j] = 0xff // the caller reuses its buffer
		}
	}
	b.add(nil, true)
	check := func(from uint64) {
		t.Helper()
		ents, err := b.from(from)
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) != len(want)-int(from)+1 {
			t.Fatalf("from(%d): %d entries, want %d", from, len(ents), len(want)-int(from)+1)
		}
		for i, e := range ents[:len(ents)-1] {
			if !bytes.Equal(e.msg, want[int(from)+i]) || e.end {
				t.Fatalf("message %d changed: %d bytes, want %d", int(from)+i, len(e.msg), len(want[int(from)+i]))
			}
			if cap(e.msg) != len(e.msg) {
				t.Fatalf("message %d: capacity %d beyond its %d bytes (an append would write into the next)", int(from)+i, cap(e.msg), len(e.msg))
			}
		}
		if !ents[len(ents)-1].end {
			t.Fatal("the end of data is missing")
		}
	}
	check(0)
	check(150)
	if err := b.ack(uint64(len(want) + 2)); !errors.Is(err, ErrProtocol) {
		t.Errorf("an ack beyond what was sent: %v", err)
	}
	check(399)
	if err := b.ack(uint64(len(want) + 1)); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bytes != 0 || b.arena != nil || len(b.ents) != 0 {
		t.Errorf("all acknowledged: %d bytes, %d entries, arena of %d kept", b.bytes, len(b.ents), cap(b.arena))
	}
	for i, e := range b.ents[:cap(b.ents)] {
		if e.msg != nil {
			t.Fatalf("all acknowledged: entry %d past the end still holds a copy of %d bytes", i, len(e.msg))
		}
	}
}

// TestRtxBufRemovedBytesCount: the bytes of a message taken back (its
// Send's context ended before anything was written) stay in their chunk
// while later messages share it, so they count against the buffer's
// bound until everything is acknowledged.
func TestRtxBufRemovedBytesCount(t *testing.T) {
	t.Parallel()
	b := newRtxBuf(10_000)
	msg := make([]byte, 3000)
	b.add(msg, false) // 0
	b.add(msg, false) // 1
	b.remove(1)
	b.add(msg, false) // 1 again
	if !b.fits(1000) {
		t.Fatal("6000 held and 3000 taken back: a message of 1000 should fit in 10000")
	}
	if b.fits(1001) {
		t.Error("the 3000 bytes taken back are still in the chunk, but do not count")
	}
	if err := b.ack(2); err != nil {
		t.Fatal(err)
	}
	if !b.fits(10_000) {
		t.Error("everything acknowledged: the whole buffer should be free")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.waste != 0 || b.arena != nil {
		t.Errorf("everything acknowledged: %d bytes of waste, arena of %d", b.waste, cap(b.arena))
	}
}

// BenchmarkRtxAdd: keeping a copy of a 100-byte message costs no
// allocation of its own (one chunk per several hundred messages).
func BenchmarkRtxAdd(b *testing.B) {
	for _, size := range []int{100, 1200} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			buf := newRtxBuf(4 << 20)
			msg := make([]byte, size)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for i := 0; b.Loop(); i++ {
				buf.add(msg, false)
				if i%64 == 63 {
					if err := buf.ack(buf.next()); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
