package room

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

// TestSaveOpen: a room saved by one process is entered again by Open with
// the same ID, name, creator and members, and the reopened member can let
// a newcomer in and talk to it.
func TestSaveOpen(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tn := newTestNet(t, 7)
	a := tn.create("saved")
	b := tn.join(ctx, a)
	saved := b.Save()
	if !bytes.HasPrefix(saved, []byte("sp2p-room\x00\x01")) {
		t.Fatalf("saved room starts %q", saved[:min(len(saved), 16)])
	}
	self := b.self
	b.Close()

	again, err := Open(self, saved, tn.options())
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.ID() != a.ID() || again.Name() != "saved" || again.Creator() != a.Self() {
		t.Fatalf("reopened as %v %q %v", again.ID(), again.Name(), again.Creator())
	}
	if got := len(again.Members()); got != 2 {
		t.Fatalf("%d members, want 2", got)
	}
	if !again.IsMember(a.Self()) || !again.IsMember(self.ID()) {
		t.Fatal("members lost")
	}
	if n := len(again.Neighbours()); n != 0 {
		t.Fatalf("%d neighbours before anyone joins", n)
	}

	c := tn.join(ctx, again)
	if !c.IsMember(self.ID()) || !c.IsMember(a.Self()) {
		t.Fatal("the newcomer did not get the saved membership")
	}
	col := collect(again, c)
	defer col.stop()
	id, err := again.Publish(ctx, []byte("back again"))
	if err != nil {
		t.Fatal(err)
	}
	if err := col.waitAll(ctx, []*Room{c}, map[MessageID]*Room{id: again}); err != nil {
		t.Fatal(err)
	}
}

// TestOpenRefuses: Open checks everything again. A flipped bit anywhere
// in a record, a member the records removed, an identity they never
// admitted, a cut or lengthened file and another format version are all
// refused.
func TestOpenRefuses(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tn := newTestNet(t, 8)
	a := tn.create("refuse")
	b := tn.join(ctx, a)
	saved := b.Save()
	opts := tn.options()

	open := func(id func() []byte, who string) error {
		t.Helper()
		r, err := Open(b.self, id(), opts)
		if err == nil {
			r.Close()
			t.Errorf("%s: opened", who)
		}
		return err
	}
	// Every bit of the last record (its signature included).
	last := len(saved) - (1 + 32 + 32 + 32 + 8 + 64)
	for i := last; i < len(saved); i++ {
		for bit := range 8 {
			bad := bytes.Clone(saved)
			bad[i] ^= 1 << bit
			r, err := Open(b.self, bad, opts)
			if err == nil {
				// A flipped bit may only make a record that does not
				// count; it must never be accepted as a valid room with
				// the changed record in it.
				r.Close()
				t.Fatalf("byte %d bit %d: opened", i, bit)
			}
		}
	}
	if err := open(func() []byte { return saved[:len(saved)-1] }, "cut"); !errors.Is(err, ErrBadSaved) {
		t.Errorf("cut: %v", err)
	}
	if err := open(func() []byte { return append(bytes.Clone(saved), 0) }, "lengthened"); !errors.Is(err, ErrBadSaved) {
		t.Errorf("lengthened: %v", err)
	}
	v2 := bytes.Clone(saved)
	v2[10] = 2
	if err := open(func() []byte { return v2 }, "version 2"); !errors.Is(err, ErrBadSaved) {
		t.Errorf("version 2: %v", err)
	}
	if err := open(func() []byte { return make([]byte, MaxSaved+1) }, "too large"); !errors.Is(err, ErrBadSaved) {
		t.Errorf("too large: %v", err)
	}

	stranger := newID(t)
	if r, err := Open(stranger, saved, opts); !errors.Is(err, ErrNotMember) {
		if r != nil {
			r.Close()
		}
		t.Errorf("stranger: %v, want ErrNotMember", err)
	}
	if err := a.Remove(b.Self()); err != nil {
		t.Fatal(err)
	}
	if r, err := Open(b.self, a.Save(), opts); !errors.Is(err, ErrRemoved) {
		if r != nil {
			r.Close()
		}
		t.Errorf("removed: %v, want ErrRemoved", err)
	}
}

// FuzzOpen: Open never panics on any bytes and refuses what is not a
// saved room.
func FuzzOpen(f *testing.F) {
	id := newID(f)
	r, err := Create(id, "fuzz", Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(r.Save())
	r.Close()
	f.Add([]byte("sp2p-room\x00\x01\x01"))
	f.Add([]byte("sp2p-room\x00")) // the magic without its version
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Open(id, b, Options{})
		if err != nil {
			return
		}
		defer r.Close()
		if !bytes.Equal(r.Save()[:11], savedMagic) {
			t.Fatal("saved without the magic")
		}
	})
}

// TestOpenSkipsFutureRecords: after this machine's clock went back, a
// saved record now "made in the future" is left out (neighbours send it
// again) instead of making the whole room unopenable.
func TestOpenSkipsFutureRecords(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tn := newTestNet(t, 9)
	tn.opts.Now = func() time.Time { return time.Now().Add(time.Hour) }
	a := tn.create("clock")
	b := tn.join(ctx, a)
	saved := a.Save()
	tn.opts.Now = nil
	r, err := Open(a.self, saved, tn.options())
	if err != nil {
		t.Fatalf("a room saved by a clock an hour ahead: %v", err)
	}
	defer r.Close()
	if r.IsMember(b.Self()) || len(r.Members()) != 1 {
		t.Fatalf("the future admission was kept: %d members", len(r.Members()))
	}
}

// TestSaveDeterministic: the same records always save to the same bytes
// (the CLI saves only when they change).
func TestSaveDeterministic(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tn := newTestNet(t, 10)
	a := tn.create("same")
	for range 4 {
		tn.join(ctx, a)
	}
	first := a.Save()
	for range 20 {
		if !bytes.Equal(a.Save(), first) {
			t.Fatal("the same room saved to different bytes")
		}
	}
}
