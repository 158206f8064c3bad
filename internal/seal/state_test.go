package seal

import (
	"errors"
	"testing"
	"time"
)

// A record that authenticates but is rejected (stale, from the future,
// replayed) changes nothing but the counters: it does not mark its sequence
// number, move the replay window or move the receive epoch.
func TestRejectedRecordChangesNothing(t *testing.T) {
	t.Parallel()
	send, recv := newClock(), newClock()
	o := newPair(t, Config{Now: send.Now, RekeyAfterTime: 1000 * time.Hour}) // rekeys only when told
	a := newPair(t, Config{Now: recv.Now})

	// Records 0..ReplayWindow+99 at the right time, except the last one,
	// which the sender stamps an hour in the past.
	n := ReplayWindow + 100
	recs := make([][]byte, n)
	for i := range recs {
		if i == n-1 {
			send.Advance(-time.Hour)
		}
		recs[i] = mustSeal(t, o.oSeal, TypeData, []byte{byte(i)})
	}
	send.Advance(time.Hour)
	if _, _, err := a.aOpen.Open(nil, recs[n-1]); !errors.Is(err, ErrStale) {
		t.Fatalf("stale record: %v, want ErrStale", err)
	}
	// Had the stale record moved the window, record 5 would now be too old.
	if _, _, err := a.aOpen.Open(nil, recs[5]); err != nil {
		t.Fatalf("record 5 after a rejected newer record: %v", err)
	}
	if st := a.aOpen.Stats(); st.NewestSeqSeen != 5 || st.Stale != 1 || st.Opened != 1 {
		t.Fatalf("stats after the rejected record: %+v", st)
	}

	// A record from the future, of the next epoch: the epoch stays.
	if err := o.oSeal.Rekey(); err != nil {
		t.Fatal(err)
	}
	send.Advance(time.Hour)
	future := mustSeal(t, o.oSeal, TypeData, []byte("future"))
	send.Advance(-time.Hour)
	if _, _, err := a.aOpen.Open(nil, future); !errors.Is(err, ErrFuture) {
		t.Fatalf("future next-epoch record: %v, want ErrFuture", err)
	}
	if e, st := a.aOpen.Epoch(), a.aOpen.Stats(); e != 0 || st.Rekeys != 0 || st.CurrentEpoch != 0 {
		t.Fatalf("a rejected next-epoch record moved the epoch: epoch %d, %+v", e, st)
	}
	// The same record, once its time has come, is accepted: it was never
	// marked as seen.
	recv.Advance(time.Hour)
	if _, pt, err := a.aOpen.Open(nil, future); err != nil || string(pt) != "future" {
		t.Fatalf("the future record in its time: %q, %v", pt, err)
	}
	if e := a.aOpen.Epoch(); e != 1 {
		t.Fatalf("epoch after an accepted next-epoch record: %d, want 1", e)
	}
	// And now it is a replay.
	if _, _, err := a.aOpen.Open(nil, future); !errors.Is(err, ErrReplay) {
		t.Fatalf("second time: %v, want ErrReplay", err)
	}
}

// The exact boundaries SECURITY.md states: a record newest-8128 behind is
// in the window, newest-8129 is not; a timestamp exactly MaxAge old or
// exactly MaxFutureSkew ahead (in milliseconds) is accepted, one
// millisecond more is not.
func TestRecordBoundaries(t *testing.T) {
	t.Parallel()
	if ReplayWindow != 8128 {
		t.Fatalf("ReplayWindow = %d, SECURITY.md says 8128", ReplayWindow)
	}
	p := newPair(t, Config{})
	recs := make([][]byte, ReplayWindow+2)
	for i := range recs {
		recs[i] = mustSeal(t, p.oSeal, TypeData, nil)
	}
	newest := len(recs) - 1 // 8129
	if _, _, err := p.aOpen.Open(nil, recs[newest]); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.aOpen.Open(nil, recs[newest-ReplayWindow-1]); !errors.Is(err, ErrReplay) {
		t.Fatalf("newest-8129: %v, want ErrReplay", err)
	}
	if _, _, err := p.aOpen.Open(nil, recs[newest-ReplayWindow]); err != nil {
		t.Fatalf("newest-8128: %v, want accepted", err)
	}

	send, recv := newClock(), newClock()
	o := newPair(t, Config{Now: send.Now})
	a := newPair(t, Config{Now: recv.Now})
	for _, c := range []struct {
		skew time.Duration // receiver minus sender
		want error
	}{
		{DefaultMaxAge, nil},
		{DefaultMaxAge + time.Millisecond, ErrStale},
		{-DefaultMaxFutureSkew, nil},
		{-DefaultMaxFutureSkew - time.Millisecond, ErrFuture},
	} {
		recv.Set(send.Now().Add(c.skew))
		rec := mustSeal(t, o.oSeal, TypeData, nil)
		if _, _, err := a.aOpen.Open(nil, rec); !errors.Is(err, c.want) {
			t.Errorf("receiver clock %v from the sender's: %v, want %v", c.skew, err, c.want)
		}
	}
}
