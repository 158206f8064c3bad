package transfer

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
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

// The sender checks the decision frame's offsets: a file is skipped
// (offset equal to its size) or resumed only at the length the receiver
// asked about, and the sender's answer is the SHA-256 of that many of
// its first bytes; an offset without a question or other than the bytes
// asked about is a protocol error, and nothing is sent.
func TestDecisionOffsetAtSize(t *testing.T) {
	src := t.TempDir()
	f := filepath.Join(src, "f.bin")
	writeRandom(t, f, 5000)
	content, _ := os.ReadFile(f)
	m, local, _, err := BuildManifest([]string{f})
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	for _, tc := range []struct {
		name    string
		ask     int64 // bytes asked about (0: no question)
		off     int64
		wantErr error
	}{
		{"whole file asked", 5000, 5000, nil},
		{"prefix asked", 1000, 1000, nil},
		{"asked, then from the start", 1000, 0, nil},
		{"no question", 0, 5000, ErrProtocol},
		{"beyond the size", 0, 5001, ErrProtocol},
		{"not the bytes asked", 1000, 2000, ErrProtocol},
	} {
		s, r := pipePair(t)
		got := make(chan []byte, 1)
		answer := make(chan []string, 1)
		go func() {
			var man Manifest
			readFrame(r, &man, MaxFrameSize)
			if tc.ask > 0 {
				writeFrame(r, query{Query: []have{{Entry: 0, Bytes: tc.ask}}})
				var a match
				readFrame(r, &a, 1<<20)
				answer <- a.SHA256
			}
			writeFrame(r, decision{Accept: true, Offsets: []int64{tc.off}})
			if tc.off < 5000 && tc.wantErr == nil {
				b := make([]byte, 5000-tc.off+32)
				io.ReadFull(r, b)
				got <- b
			}
			writeFrame(r, result{OK: true})
		}()
		sr, err := Send(s, m, local, nil)
		if !errors.Is(err, tc.wantErr) {
			t.Errorf("%s: %+v, %v", tc.name, sr, err)
			continue
		}
		if tc.ask > 0 {
			if a := <-answer; len(a) != 1 || a[0] != sha(content[:tc.ask]) {
				t.Errorf("%s: the sender answered %v", tc.name, a)
			}
		}
		if err != nil {
			continue
		}
		whole := sha256.Sum256(content)
		switch {
		case tc.off == 5000 && (sr.Bytes != 0 || sr.Skipped != 1):
			t.Errorf("%s: %+v", tc.name, sr)
		case tc.off < 5000:
			b := <-got
			if sr.Bytes != 5000-tc.off || !bytes.Equal(b[:5000-tc.off], content[tc.off:]) || !bytes.Equal(b[5000-tc.off:], whole[:]) {
				t.Errorf("%s: %+v, not the rest of the file and its SHA-256", tc.name, sr)
			}
		}
	}
}
