package session

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/sp2p/sp2p/internal/memlink"
	"github.com/sp2p/sp2p/internal/seal"
)

// Both sides move at once: neither finds the other where it was, and the
// session waits; each side's resume token, taken by the other, brings it
// back (one direction is enough when that side is then reachable). A
// side's own token, a replayed one, one of another session and an
// altered one are refused.
func TestResumeTokenWhenBothMoved(t *testing.T) {
	checkGoroutines(t)
	n := memlink.New(11, memlink.Faults{})
	p := connect(t, resumeOpts(n, nil), resumeOpts(n, nil))
	other := connect(t, resumeOpts(n, nil), resumeOpts(n, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := p.offerer.ResumeToken(); !errors.Is(err, ErrNotMoving) {
		t.Fatalf("a token while not moving: %v", err)
	}
	n.SetOutage(true)
	for _, s := range []*Session{p.offerer, p.answerer} {
		path, _ := s.Path()
		if _, ok := n.Move(path.Local); !ok {
			t.Fatal("no anchor")
		}
	}
	n.SetOutage(false)
	var tokO, tokA string
	waitFor(t, func() bool {
		var e1, e2 error
		tokO, e1 = p.offerer.ResumeToken()
		tokA, e2 = p.answerer.ResumeToken()
		return e1 == nil && e2 == nil
	})
	time.Sleep(300 * time.Millisecond)
	if p.offerer.res.committed != 0 {
		t.Fatal("resumed although neither side could find the other")
	}
	if err := p.answerer.UseResumeToken(tokA); !errors.Is(err, ErrResumeToken) {
		t.Fatalf("its own token: %v", err)
	}
	flipped := []byte(tokO)
	flipped[len(flipped)-5] ^= 0x01
	if err := p.answerer.UseResumeToken(string(flipped)); !errors.Is(err, ErrResumeToken) {
		t.Fatalf("an altered token: %v", err)
	}
	otherTok := testResumeToken(other.offerer.res.r, seal.Offerer, time.Now())
	if err := p.answerer.UseResumeToken(otherTok); !errors.Is(err, ErrResumeToken) {
		t.Fatalf("another session's token: %v", err)
	}
	if err := p.answerer.UseResumeToken(tokO); err != nil {
		t.Fatal(err)
	}
	if err := p.answerer.UseResumeToken(tokO); !errors.Is(err, ErrResumeToken) {
		t.Fatalf("the same token again: %v", err)
	}
	if err := p.offerer.Send(ctx, []byte("back")); err != nil {
		t.Fatal(err)
	}
	if m, err := p.answerer.Receive(ctx); err != nil || string(m) != "back" {
		t.Fatalf("after the tokens: %q %v", m, err)
	}
}

// FuzzResumeToken: any text as a peer's resume token is refused with
// ErrResumeToken or taken; it never panics.
func FuzzResumeToken(f *testing.F) {
	var tr [32]byte
	k, err := seal.DeriveKeys(bytes.Repeat([]byte{3}, 32), tr, seal.Answerer)
	if err != nil {
		f.Fatal(err)
	}
	r := k.Resumer()
	f.Add(testResumeToken(r, seal.Offerer, time.UnixMilli(1_700_000_000_000)))
	f.Add(ResumeTokenPrefix)
	f.Add("sp2p-resume:AQ")
	f.Fuzz(func(t *testing.T, text string) {
		_, cands, err := decodeResumeToken(text, r, seal.Offerer)
		if err != nil {
			if !errors.Is(err, ErrResumeToken) {
				t.Fatalf("error %v does not wrap ErrResumeToken", err)
			}
			return
		}
		if len(cands) < 1 || len(cands) > 16 {
			t.Fatalf("%d candidates taken", len(cands))
		}
	})
}

// testResumeToken is a resume token from role with one host candidate,
// 192.0.2.1:8080, issued at issued.
func testResumeToken(r *seal.Resumer, role seal.Role, issued time.Time) string {
	id := r.ResumeID()
	b := []byte{resumeTokenVersion, byte(role)}
	b = append(b, id[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(issued.UnixMilli()))
	b = append(b, 1, 0, 4, 192, 0, 2, 1, 0x1f, 0x90)
	tag := r.TokenMAC(role, b)
	return ResumeTokenPrefix + base64.RawURLEncoding.EncodeToString(append(b, tag[:]...))
}
