package session

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/internal/memlink"
	"github.com/sp2p/sp2p/invite"
)

func testIdentity(t testing.TB) *identity.Identity {
	t.Helper()
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// loopback is real pion on the loopback interface: for what only pion
// shows (ICE, DTLS fingerprints, SCTP under loss and outages, relays).
func loopback() Options { return Options{LoopbackOnly: true, UDP4Only: true} }

// memNet is the in-memory network the logic tests share.
var memNet = memlink.New(1, memlink.Faults{})

// mem runs the real handshake and record layer over the in-memory link:
// for everything where the real network is not the point.
func mem() Options { return Options{Link: memNet.Maker()} }

// TestMain runs the package's tests and then fails the run if goroutines
// started by them (the parallel ones included, which cannot check their
// own) are still running a little after the last test ends.
func TestMain(m *testing.M) {
	before := runtime.NumGoroutine()
	code := m.Run()
	// The fuzzing engine keeps goroutines of its own (signals, workers).
	if f := flag.Lookup("test.fuzz"); code == 0 && (f == nil || f.Value.String() == "") {
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			fmt.Fprintf(os.Stderr, "goroutine leak: %d before the tests, %d after\n%s", before, n, buf)
			code = 1
		}
	}
	os.Exit(code)
}

// checkGoroutines fails the test if goroutines started during it are still
// running a little after it ends (as pion's test.CheckRoutines does).
func checkGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d before, %d after\n%s", before, n, buf)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

type pair struct {
	alice, bob        *identity.Identity
	offerer, answerer *Session
}

// connect runs the whole handshake in one process, passing the tokens as
// text, and returns both open sessions (closed at cleanup).
func connect(t testing.TB, oOpts, aOpts Options) *pair {
	t.Helper()
	return connectObserved(t, oOpts, aOpts, nil)
}

// connectObserved is connect, also handing the tokens to observe (if not
// nil) before the offerer reads the answer.
func connectObserved(t testing.TB, oOpts, aOpts Options, observe func(*invite.Offer, *invite.Answer)) *pair {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := &pair{alice: testIdentity(t), bob: testIdentity(t)}
	var err error
	p.offerer, p.answerer, err = ConnectInProcess(ctx, p.alice, p.bob, oOpts, aOpts, observe)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.offerer.Close()
		p.answerer.Close()
	})
	return p
}

func TestMessageRoundTrip(t *testing.T) {
	checkGoroutines(t)
	p := connect(t, loopback(), loopback())
	ctx := context.Background()
	if p.offerer.Peer() != p.bob.ID() || p.answerer.Peer() != p.alice.ID() {
		t.Fatal("sessions name the wrong peers")
	}
	if p.offerer.SafetyCode() != p.answerer.SafetyCode() || p.offerer.SafetyCode() == "" {
		t.Fatal("safety codes differ")
	}
	big := make([]byte, 3<<20)
	rand.Read(big)
	for _, m := range [][]byte{[]byte("hello"), {}, big} {
		if err := p.offerer.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
		got, err := p.answerer.Receive(ctx)
		if err != nil || !bytes.Equal(got, m) {
			t.Fatalf("received %d bytes (%v), want %d", len(got), err, len(m))
		}
	}
	if err := p.answerer.Send(ctx, []byte("back")); err != nil {
		t.Fatal(err)
	}
	if got, err := p.offerer.Receive(ctx); err != nil || string(got) != "back" {
		t.Fatalf("reply: %q %v", got, err)
	}
	st := p.answerer.Stats()
	if st.MessagesReceived != 3 || st.BytesReceived != uint64(len(big)+5) || st.MessagesSent != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestManyMessagesInOrder(t *testing.T) {
	checkGoroutines(t)
	p := connect(t, mem(), mem())
	ctx := context.Background()
	const n = 10_000
	go func() {
		for i := range n {
			msg := []byte(strings.Repeat("x", i%200) + "#" + itoa(i))
			if err := p.offerer.Send(ctx, msg); err != nil {
				return
			}
		}
	}()
	for i := range n {
		got, err := p.answerer.Receive(ctx)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		want := strings.Repeat("x", i%200) + "#" + itoa(i)
		if string(got) != want {
			t.Fatalf("message %d out of order or corrupt", i)
		}
	}
}

func itoa(i int) string { return string([]byte(func() string { return fmtInt(i) }())) }

func fmtInt(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func TestStreamSHA256(t *testing.T) {
	checkGoroutines(t)
	p := connect(t, mem(), mem())
	const size = 50 << 20
	w, r := p.offerer.Conn(), p.answerer.Conn()
	sent := sha256.New()
	errc := make(chan error, 1)
	go func() {
		buf := make([]byte, 100_000)
		left := size
		for left > 0 {
			b := buf[:min(left, len(buf))]
			rand.Read(b)
			sent.Write(b)
			if _, err := w.Write(b); err != nil {
				errc <- err
				return
			}
			left -= len(b)
		}
		errc <- w.CloseWrite()
	}()
	got := sha256.New()
	n, err := io.Copy(got, r)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if n != size || !bytes.Equal(got.Sum(nil), sent.Sum(nil)) {
		t.Fatalf("stream: %d bytes, hashes equal %v", n, bytes.Equal(got.Sum(nil), sent.Sum(nil)))
	}
}

func TestCleanCloseAndHalfClose(t *testing.T) {
	checkGoroutines(t)
	p := connect(t, mem(), mem())
	ctx := context.Background()
	// Half close: the offerer ends its sending, can still receive.
	p.offerer.Send(ctx, []byte("last"))
	if err := p.offerer.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := p.offerer.Send(ctx, []byte("more")); !errors.Is(err, ErrWriteClosed) {
		t.Fatalf("Send after CloseWrite: %v", err)
	}
	if m, err := p.answerer.Receive(ctx); err != nil || string(m) != "last" {
		t.Fatalf("message before the end: %q %v", m, err)
	}
	if _, err := p.answerer.Receive(ctx); err != io.EOF {
		t.Fatalf("after the peer's CloseWrite: %v, want io.EOF", err)
	}
	if err := p.answerer.Send(ctx, []byte("reply")); err != nil {
		t.Fatal(err)
	}
	if m, err := p.offerer.Receive(ctx); err != nil || string(m) != "reply" {
		t.Fatalf("reply after half close: %q %v", m, err)
	}
	// Full close: the other side sees a clean end, not a lost peer.
	p.answerer.Close()
	select {
	case <-p.offerer.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the offerer did not notice the close")
	}
	if err := p.offerer.Err(); !errors.Is(err, ErrPeerClosed) {
		t.Fatalf("offerer's reason: %v, want ErrPeerClosed", err)
	}
	if _, err := p.offerer.Receive(ctx); err != io.EOF {
		t.Fatalf("Receive after a clean close: %v", err)
	}
}

// blackHole passes records until killed, then silently drops everything in
// both directions, like a peer whose machine lost power.
type blackHole struct {
	transport
	dead atomic.Bool
	stop chan struct{}
}

func (b *blackHole) writeMessage(p []byte) error {
	if b.dead.Load() {
		return nil
	}
	return b.transport.writeMessage(p)
}

func (b *blackHole) readMessage(p []byte) (int, error) {
	n, err := b.transport.readMessage(p)
	if b.dead.Load() {
		<-b.stop
		return 0, io.EOF
	}
	return n, err
}

// close releases the reader but, once dead, leaves the connection up:
// a dead machine sends no goodbye. The test closes it at cleanup.
func (b *blackHole) close() error {
	select {
	case <-b.stop:
	default:
		close(b.stop)
	}
	if b.dead.Load() {
		return nil
	}
	return b.transport.close()
}

func TestPeerLost(t *testing.T) {
	checkGoroutines(t)
	opts := mem()
	opts.HeartbeatTimeout = 1500 * time.Millisecond
	opts.ResumeWindow = -1 // a resumable session moves instead (TestResume…)
	var hole *blackHole
	aOpts := opts
	aOpts.wrapTransport = func(tr transport) transport {
		hole = &blackHole{transport: tr, stop: make(chan struct{})}
		return hole
	}
	p := connect(t, opts, aOpts)
	hole.dead.Store(true)
	t.Cleanup(func() { hole.transport.close() })
	start := time.Now()
	select {
	case <-p.offerer.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the offerer did not notice the lost peer")
	}
	if err := p.offerer.Err(); !errors.Is(err, ErrPeerLost) || errors.Is(err, ErrTransportEnd) {
		t.Fatalf("reason %v, want ErrPeerLost from the heartbeat", err)
	}
	el := time.Since(start)
	// Silence began with the last record received, a moment before the
	// hole opened: that is what the timeout counts from.
	if silent := time.Since(time.Unix(0, p.offerer.lastRecv.Load())); silent < opts.HeartbeatTimeout {
		t.Fatalf("declared lost after %v of silence, before the %v timeout", silent, opts.HeartbeatTimeout)
	}
	t.Logf("lost peer noticed after %v", el.Round(time.Millisecond))
}

// Closing one side's connection without a close record (the process
// died): the other side reports a lost peer, not a clean end (when it
// does not resume; a resumable one tries for its resume window).
func TestPeerConnectionGone(t *testing.T) {
	checkGoroutines(t)
	o := loopback()
	o.ResumeWindow = -1
	p := connect(t, o, o)
	p.answerer.transport().close()
	select {
	case <-p.offerer.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the offerer did not notice")
	}
	if err := p.offerer.Err(); !errors.Is(err, ErrPeerLost) {
		t.Fatalf("reason %v, want ErrPeerLost", err)
	}
	if _, err := p.offerer.Receive(context.Background()); err == io.EOF || err == nil {
		t.Fatalf("Receive after a lost peer: %v, want the error", err)
	}
}

// An unordered, partially reliable channel (as the original browser design
// offered) carries messages too; the replay window tolerates reordering.
func TestUnorderedChannel(t *testing.T) {
	checkGoroutines(t)
	o := loopback()
	o.Channel = invite.ChannelOptions{Unordered: true, PartialReliability: true, MaxRetransmits: 3}
	p := connect(t, o, loopback())
	ctx := context.Background()
	const n = 500
	go func() {
		for i := range n {
			p.offerer.Send(ctx, []byte(fmtInt(i)))
		}
	}()
	seen := map[string]bool{}
	for range n {
		m, err := p.answerer.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if seen[string(m)] {
			t.Fatalf("message %s twice", m)
		}
		seen[string(m)] = true
	}
}

func TestConnDeadlines(t *testing.T) {
	checkGoroutines(t)
	p := connect(t, mem(), mem())
	c := p.answerer.Conn()
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	buf := make([]byte, 10)
	if _, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v", err)
	}
	// A deadline moved while a Read waits takes effect for that Read.
	c.SetReadDeadline(time.Time{})
	errc := make(chan error, 1)
	go func() {
		_, err := c.Read(buf)
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	c.SetReadDeadline(time.Now())
	select {
	case err := <-errc:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read after the deadline moved: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a waiting Read ignored the new deadline")
	}
	c.SetReadDeadline(time.Time{})
	p.offerer.Conn().Write([]byte("after"))
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "after" {
		t.Fatalf("read after clearing the deadline: %q %v", buf[:n], err)
	}
	if c.RemoteAddr().String() != p.alice.ID().String() || c.RemoteAddr().Network() != "sp2p" {
		t.Fatalf("remote address %v", c.RemoteAddr())
	}
}
