//go:build !js

package session

import (
	"testing"
	"time"
)

// pion's data channel as a link.TryWriter: a try writes only what pion
// takes at once, a busy try sends nothing, a blocking write after busy
// tries is not cut short by the try's past deadline, and a caller's
// deadline (Close cutting writes short) makes every try busy.
func TestPionTryWrite(t *testing.T) {
	t.Parallel()
	a, b := rawPair(t, false)
	tw := a.(chanTransport).tryWriter()
	if tw == nil {
		t.Fatal("pion's channel is no link.TryWriter")
	}
	// Nobody reads: pion takes tries while its write loop keeps up, and
	// none once its buffers are full (busy for 300 ms in a row).
	msg := make([]byte, 1000)
	written, busy := 0, 0
	var busySince time.Time
	for {
		ok, err := tw.TryWriteMessage(msg)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			busySince = time.Time{}
			if written++; written > 100000 {
				t.Fatal("100,000 tries taken with nobody reading: pion's buffer never filled")
			}
			continue
		}
		busy++
		if busySince.IsZero() {
			busySince = time.Now()
		} else if time.Since(busySince) > 300*time.Millisecond {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if written < 100 {
		t.Fatalf("only %d tries taken before pion's buffer filled", written)
	}
	got := make(chan int, 1)
	go func() {
		buf := make([]byte, rawReadBuffer)
		n := 0
		for {
			if _, err := b.readMessage(buf); err != nil {
				got <- n
				return
			}
			n++
		}
	}()
	if err := a.writeMessage(msg); err != nil {
		t.Fatalf("a blocking write after a busy try: %v", err)
	}
	if err := a.(chanTransport).setWriteDeadline(time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	if ok, err := tw.TryWriteMessage(msg); ok || err != nil {
		t.Fatalf("a try under a past deadline of the caller's: %v, %v", ok, err)
	}
	a.(chanTransport).setWriteDeadline(time.Time{})
	time.Sleep(500 * time.Millisecond) // everything written is delivered
	a.close()
	if n := <-got; n != written+1 {
		t.Fatalf("the peer read %d messages, %d were written (busy tries must send nothing)", n, written+1)
	}
	t.Logf("%d tries taken, %d busy", written, busy)
}
