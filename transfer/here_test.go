package transfer

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A file already in the output directory under its name, with the same
// size and SHA-256, is "already here": the receiver sends an offset equal
// to its size, the sender sends nothing of it, the file is left untouched
// (with or without Overwrite), and both results say so. A different file
// at the name is still refused without Overwrite.
func TestAlreadyHereSkipped(t *testing.T) {
	src, out := t.TempDir(), t.TempDir()
	same := filepath.Join(src, "same.bin")
	writeRandom(t, same, 300_000)
	fresh := filepath.Join(src, "fresh.bin")
	writeRandom(t, fresh, 1000)
	b, _ := os.ReadFile(same)
	target := filepath.Join(out, "same.bin")
	if err := os.WriteFile(target, b, 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	os.Chtimes(target, old, old)
	before, _ := os.Stat(target)
	for _, overwrite := range []bool{false, true} {
		os.Remove(filepath.Join(out, "fresh.bin"))
		var offer *Offer
		var sent, received []Progress
		m, local, _, err := BuildManifest([]string{same, fresh})
		if err != nil {
			t.Fatal(err)
		}
		s, r := sessionPair(t)
		ch := make(chan error, 1)
		var sr *SendResult
		go func() {
			var err error
			sr, err = Send(s, m, local, func(p Progress) { sent = append(sent, p) })
			ch <- err
		}()
		rr, rerr := Receive(r, ReceiveOptions{Dir: out, Overwrite: overwrite,
			Confirm:  func(o *Offer) (bool, error) { offer = o; return true, nil },
			Progress: func(p Progress) { received = append(received, p) }})
		serr := <-ch
		local.Close()
		if rerr != nil || serr != nil {
			t.Fatalf("overwrite=%v: receive %v, send %v", overwrite, rerr, serr)
		}
		if offer.Here != 1 || offer.HereBytes != 300_000 || offer.Need != 1000 {
			t.Errorf("overwrite=%v: offer %+v", overwrite, offer)
		}
		if rr.Here != 1 || rr.HereBytes != 300_000 || rr.Files != 1 || rr.Bytes != 1000 {
			t.Errorf("overwrite=%v: receive result %+v", overwrite, rr)
		}
		if sr.Skipped != 1 || sr.Bytes != 1000 || sr.Resumed != 300_000 {
			t.Errorf("overwrite=%v: send result %+v", overwrite, sr)
		}
		// The progress starts at what the receiver already has.
		for _, ps := range [][]Progress{sent, received} {
			if len(ps) == 0 || ps[0].Done != 300_000 || ps[0].Total != 301_000 || ps[len(ps)-1].Done != 301_000 {
				t.Errorf("overwrite=%v: progress %+v", overwrite, ps)
			}
		}
		after, _ := os.Stat(target)
		if !os.SameFile(before, after) || !after.ModTime().Equal(old) || after.Mode() != before.Mode() {
			t.Errorf("overwrite=%v: the file already here was rewritten", overwrite)
		}
	}
	if got := treeHash(t, out); got["fresh.bin"] == "" || len(got) != 3 {
		t.Errorf("output: %v", got)
	}

	// Same size, different content: refused without Overwrite.
	writeRandom(t, target, 300_000)
	s, r := sessionPair(t)
	_, _, serr, rerr := run(t, s, r, []string{same}, ReceiveOptions{Dir: out})
	if !errors.Is(rerr, ErrExists) || !errors.Is(serr, ErrDeclined) {
		t.Fatalf("a different file at the name: receive %v, send %v", rerr, serr)
	}
	// A link to the very content is not "already here": links are refused.
	os.Remove(target)
	if err := os.Symlink(same, target); err != nil {
		t.Fatal(err)
	}
	s, r = sessionPair(t)
	_, _, _, rerr = run(t, s, r, []string{same}, ReceiveOptions{Dir: out, Overwrite: true})
	if !errors.Is(rerr, ErrUnsafeName) {
		t.Fatalf("a link to the same content at the name: %v", rerr)
	}
}

// The sender checks the decision frame's offsets: an offset equal to the
// size skips the file, one beyond it is a protocol error.
func TestDecisionOffsetAtSize(t *testing.T) {
	src := t.TempDir()
	f := filepath.Join(src, "f.bin")
	writeRandom(t, f, 5000)
	m, local, _, err := BuildManifest([]string{f})
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	for _, tc := range []struct {
		off     int64
		wantErr error
	}{{5000, nil}, {5001, ErrProtocol}} {
		s, r := pipePair(t)
		go func() {
			var got Manifest
			readFrame(r, &got, MaxFrameSize)
			writeFrame(r, decision{Accept: true, Offsets: []int64{tc.off}})
			writeFrame(r, result{OK: true})
		}()
		sr, err := Send(s, m, local, nil)
		if !errors.Is(err, tc.wantErr) || (err == nil && (sr.Bytes != 0 || sr.Skipped != 1)) {
			t.Errorf("offset %d: %+v, %v", tc.off, sr, err)
		}
	}
}
