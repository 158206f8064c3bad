//go:build !js

package session

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"
	"time"
)

// An open session on pion reads into a small buffer of its own and takes
// a record-sized one from the shared pool only for a large record, so an
// idle session holds 2 KiB for reading, not 64 KiB; messages of every
// size still arrive whole, and a record too large for even the pooled
// buffer still ends the session (TestMessageLargerThanBufferEndsSession).
func TestIdleSessionHoldsNoRecordBuffer(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := newLoopbackPair(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	for _, s := range []*Session{p.a, p.b} {
		if len(s.rbuf) != smallRecvBuffer {
			t.Fatalf("a session's own read buffer is %d bytes", len(s.rbuf))
		}
	}
	for _, n := range []int{0, 100, smallRecvBuffer - 64, smallRecvBuffer, 60_000, maxChunk, 3 * maxChunk} {
		msg := make([]byte, n)
		rand.Read(msg)
		if err := p.a.Send(ctx, msg); err != nil {
			t.Fatal(err)
		}
		got, err := p.b.Receive(ctx)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("%d bytes: got %d (%v)", n, len(got), err)
		}
	}
	if len(p.b.rbuf) != smallRecvBuffer {
		t.Fatalf("the read buffer grew to %d bytes", len(p.b.rbuf))
	}
}
