package session

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/sp2p/sp2p/identity"
	"github.com/sp2p/sp2p/internal/seal"
	"github.com/sp2p/sp2p/ratelimit"
)

// scriptTransport hands the session a fixed list of records, then io.EOF,
// and discards what the session writes (pongs, the close record).
type scriptTransport struct {
	mu      sync.Mutex
	records [][]byte
	closed  bool
}

func (s *scriptTransport) readMessage(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || len(s.records) == 0 {
		return 0, io.EOF
	}
	r := s.records[0]
	s.records = s.records[1:]
	if len(r) > len(p) {
		return 0, io.ErrShortBuffer
	}
	return copy(p, r), nil
}

func (s *scriptTransport) writeMessage([]byte) error { return nil }

func (s *scriptTransport) close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

var fuzzPeer = func() identity.ID {
	id, err := identity.FromSeed(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		panic(err)
	}
	return id.ID()
}()

// FuzzSessionRecords drives a real Session (its reader, dispatch, queue,
// limiter and Receive) with authenticated records a peer could send in any
// order: whole messages (sealed by the real record layer, fragmented when
// large), pings, pongs, end-of-data, close, a second key confirmation,
// fragments with fuzzer-chosen contents, corrupted records and replays.
// The input is a script: per op a byte (bits 0-2 the kind: 0 a message of
// 4·uint16 bytes, 1-7 a record of that type with a payload of the next
// byte's length; bit 3 corrupt it; bit 4 send the previous record again),
// then the op's bytes. Invariants: no panic, no hang; Receive never returns
// (nil, nil) and ends with an error; and where the script holds no
// hand-made fragments, the messages delivered are exactly those sent
// before the session had to end, and it ends for the right reason.
func FuzzSessionRecords(f *testing.F) {
	f.Add([]byte{1, 3, 'o', 'n', 'e', 0, 0, 200, 3, 8, 0, 0, 0, 0, 0, 0, 0, 1, 7, 0, 1, 1, 'x'})
	f.Add([]byte{1, 2, 'h', 'i', 1 | 16, 1 | 8, 4, 'b', 'a', 'd', '!', 5, 0})
	f.Add([]byte{0, 0x80, 0x00, 1, 1, 'a', 6, 16, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add([]byte{2, 20, 0, 0, 0, 1, 0, 0, 8, 0, 0, 0, 4, 0, 0, 0, 0, 1, 2, 3, 4})
	f.Fuzz(fuzzSessionRecords)
}

func fuzzSessionRecords(t *testing.T, in []byte) {
	{
		shared := bytes.Repeat([]byte{0x33}, 32)
		tr := sha256.Sum256([]byte("session fuzz"))
		peerKeys, err := seal.DeriveKeys(shared, tr, seal.Offerer)
		if err != nil {
			t.Fatal(err)
		}
		ourKeys, err := seal.DeriveKeys(shared, tr, seal.Answerer)
		if err != nil {
			t.Fatal(err)
		}
		cfg := seal.Config{MaxMessageSize: 1 << 20, MaxReassemblyBytes: 2 << 20}
		peer, _ := seal.New(peerKeys, cfg)

		var records [][]byte
		corrupted := map[int]bool{} // index in records → does not open
		var expect [][]byte
		modeled, stopped, ended := true, false, false
		var wantErr, wantReason error // what Receive ends with, what Err says
		violations := 0
		stop := func(err error) {
			if !stopped {
				stopped, wantErr, wantReason = true, err, err
				if ended { // the data was complete: Receive ends with io.EOF
					wantErr = io.EOF
				}
			}
		}
		for len(in) > 0 && len(records) < 512 {
			opb := in[0]
			in = in[1:]
			kind := opb & 7
			if opb&16 != 0 && len(records) > 0 { // a replay
				prev := records[len(records)-1]
				records = append(records, bytes.Clone(prev))
				if corrupted[len(records)-2] { // still does not open: a violation
					corrupted[len(records)-1] = true
					if violations++; violations >= ratelimit.DefaultMaxViolations {
						stop(ErrPenalized)
					}
				}
				// An authentic duplicate is dropped: no violation.
				continue
			}
			var recs [][]byte
			var msg, closePayload []byte
			if kind == 0 {
				if len(in) < 2 {
					break
				}
				n := 4 * int(binary.BigEndian.Uint16(in))
				in = in[2:]
				msg = bytes.Repeat([]byte{byte(len(records))}, n)
				buf, err := peer.SealMessage(nil, msg, MaxRecord, func(rec []byte) error {
					recs = append(recs, bytes.Clone(rec))
					return nil
				})
				_ = buf
				if err != nil {
					t.Fatal(err)
				}
			} else {
				if len(in) < 1 {
					break
				}
				n := min(int(in[0]), len(in)-1)
				payload := in[1 : 1+n]
				in = in[1+n:]
				if seal.Type(kind) == seal.TypeData {
					msg = payload
				}
				if seal.Type(kind) == seal.TypeClose {
					closePayload = payload
				}
				rec, err := peer.Seal(nil, seal.Type(kind), payload)
				if err != nil {
					t.Fatal(err)
				}
				recs = append(recs, rec)
			}
			if opb&8 != 0 { // corrupt the last record: it will not open
				r := recs[len(recs)-1]
				r[len(r)-1] ^= 0x80
				recs = recs[len(recs)-1:] // whole messages are not modeled half-corrupted
				msg = nil
				records = append(records, recs...)
				corrupted[len(records)-1] = true
				if violations++; violations >= ratelimit.DefaultMaxViolations {
					stop(ErrPenalized)
				}
				continue
			}
			records = append(records, recs...)
			if stopped {
				continue
			}
			switch {
			case kind == 0 || seal.Type(kind) == seal.TypeData:
				if ended {
					stop(ErrProtocol)
				} else {
					expect = append(expect, msg)
				}
			case seal.Type(kind) == seal.TypeFragment:
				modeled = false
			case seal.Type(kind) == seal.TypeEnd:
				ended = true
			case seal.Type(kind) == seal.TypeClose:
				// The payload is empty or one reason byte (SECURITY.md,
				// "Sessions"); more is a protocol error.
				switch {
				case len(closePayload) > 1:
					stop(ErrProtocol)
				case len(closePayload) == 1 && closePayload[0] == 1:
					stop(ErrRefused)
					wantErr = io.EOF
				case len(closePayload) == 1 && closePayload[0] == 2:
					stop(ErrPeerGaveUp)
					wantErr = io.EOF
				default:
					stop(ErrPeerClosed)
					wantErr = io.EOF
				}
			case seal.Type(kind) == seal.TypeConfirm:
				stop(ErrProtocol)
			}
		}
		if !stopped {
			wantReason, wantErr = ErrPeerLost, ErrPeerLost
			if ended {
				wantErr = io.EOF
			}
		}

		st := &scriptTransport{records: records}
		opts := Options{HeartbeatTimeout: time.Hour, Seal: cfg, MaxQueuedBytes: 256 << 10}
		limiter := ratelimit.New[identity.ID](ratelimit.Limits{MessagesPerSecond: 1e12, MessageBurst: 1 << 30, BytesPerSecond: 1e15, ByteBurst: 1 << 30}, nil)
		s := newSession(st, ourKeys, fuzzPeer, &opts, limiter)
		s.start()
		defer s.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var got [][]byte
		var endErr error
		for {
			m, err := s.Receive(ctx)
			if err != nil {
				endErr = err
				break
			}
			if m == nil {
				t.Fatal("Receive returned (nil, nil); an empty message is an empty, non-nil slice")
			}
			if len(m) > cfg.MaxMessageSize {
				t.Fatalf("a %d-byte message, limit %d", len(m), cfg.MaxMessageSize)
			}
			got = append(got, m)
		}
		if errors.Is(endErr, context.DeadlineExceeded) {
			t.Fatal("the session neither ended nor delivered within 10 s")
		}
		if s.Err() == nil && !errors.Is(endErr, io.EOF) {
			t.Fatalf("Receive ended with %v but the session has no error", endErr)
		}
		// After io.EOF the session may still be open (a half close); the
		// script's end ends it.
		select {
		case <-s.Done():
		case <-ctx.Done():
			t.Fatal("the session did not end after the script ended")
		}
		if !modeled {
			return
		}
		if len(got) != len(expect) {
			t.Fatalf("delivered %d messages, want %d (end: %v, want %v)", len(got), len(expect), endErr, wantErr)
		}
		for i := range got {
			if !bytes.Equal(got[i], expect[i]) {
				t.Fatalf("message %d: %d bytes, want %d", i, len(got[i]), len(expect[i]))
			}
		}
		if !errors.Is(endErr, wantErr) || !errors.Is(s.Err(), wantReason) {
			t.Fatalf("Receive ended with %v, want %v; the reason %v, want %v", endErr, wantErr, s.Err(), wantReason)
		}
	}
}

// FuzzDecodeResume: any bytes as a peer's resume message are refused with
// ErrResume or decoded into fields that re-encode to the same bytes; it
// never panics.
func FuzzDecodeResume(f *testing.F) {
	var tr [32]byte
	k, err := seal.DeriveKeys(bytes.Repeat([]byte{7}, 32), tr, seal.Answerer)
	if err != nil {
		f.Fatal(err)
	}
	r := k.Resumer()
	valid := (&resumeMsg{role: seal.Offerer, counter: 3, pub: [32]byte{1, 2, 3}, received: 42}).encode(r)
	f.Add(valid)
	f.Add(valid[:99])
	f.Add(append(append([]byte{}, valid...), 0))
	f.Add([]byte{resumeMagic, resumeVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeResume(b, r, seal.Offerer)
		if err != nil {
			if !errors.Is(err, ErrResume) {
				t.Fatalf("error %v does not wrap ErrResume", err)
			}
			return
		}
		if again := m.encode(r); !bytes.Equal(again, b) {
			t.Fatalf("decoded %x, re-encodes as %x", b, again)
		}
	})
}
