package fuzz

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/sp2p/sp2p/internal/seal"
)

// fixedNow is the clock of every seal fuzz target, so seed records stay
// fresh forever.
var fixedNow = time.Unix(1_800_000_000, 0)

func sealPair(t testing.TB, cfg seal.Config) (*seal.Sealer, *seal.Opener) {
	t.Helper()
	cfg.Now = func() time.Time { return fixedNow }
	shared := bytes.Repeat([]byte{0x5a}, 32)
	tr := sha256.Sum256([]byte("fuzz transcript"))
	ko, err := seal.DeriveKeys(shared, tr, seal.Offerer)
	if err != nil {
		t.Fatal(err)
	}
	ka, err := seal.DeriveKeys(shared, tr, seal.Answerer)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := seal.New(ko, cfg)
	_, o := seal.New(ka, cfg)
	return s, o
}

// FuzzOpen feeds arbitrary bytes to Opener.Open: it never panics, a
// rejected record returns dst unchanged, an accepted one has a valid type
// and the exact payload length, and opening the same bytes again is always
// rejected as a replay.
func FuzzOpen(f *testing.F) {
	s, _ := sealPair(f, seal.Config{})
	for _, p := range [][]byte{nil, []byte("hello"), bytes.Repeat([]byte{1}, 300)} {
		rec, err := s.Seal(nil, seal.TypeData, p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(rec)
		bad := bytes.Clone(rec)
		bad[len(bad)-1] ^= 1
		f.Add(bad)
		f.Add(rec[:len(rec)-1])
	}
	f.Fuzz(func(t *testing.T, record []byte) {
		_, o := sealPair(t, seal.Config{})
		dst := []byte("prefix")
		typ, out, err := o.Open(dst, record)
		if err != nil {
			if !bytes.Equal(out, []byte("prefix")) {
				t.Fatalf("rejected record changed dst: %q", out)
			}
			if typ != 0 {
				t.Fatalf("rejected record returned type %v", typ)
			}
			return
		}
		if typ < seal.TypeData || typ > seal.TypeEnd {
			t.Fatalf("accepted record of type %v", typ)
		}
		if len(out)-len(dst) != len(record)-seal.Overhead {
			t.Fatalf("payload length %d from a %d-byte record", len(out)-len(dst), len(record))
		}
		if _, _, err := o.Open(nil, record); !errors.Is(err, seal.ErrReplay) {
			t.Fatalf("the same record opened twice: %v", err)
		}
	})
}

// FuzzReassembly feeds an arbitrary sequence of fragment payloads to a
// Reassembler with small limits: it never panics, never holds more than its
// limits allow, and every message it returns has the length its fragments
// declared.
func FuzzReassembly(f *testing.F) {
	frag := func(id, total, chunk, index uint32, n int) []byte {
		b := make([]byte, seal.FragmentHeaderSize+n)
		binary.BigEndian.PutUint32(b[0:], id)
		binary.BigEndian.PutUint32(b[4:], total)
		binary.BigEndian.PutUint32(b[8:], chunk)
		binary.BigEndian.PutUint32(b[12:], index)
		return b
	}
	// Input format: repeated [2-byte length][fragment payload].
	pack := func(frags ...[]byte) []byte {
		var out []byte
		for _, fr := range frags {
			out = binary.BigEndian.AppendUint16(out, uint16(len(fr)))
			out = append(out, fr...)
		}
		return out
	}
	f.Add(pack(frag(1, 3000, 2000, 0, 2000), frag(1, 3000, 2000, 1, 1000)))
	f.Add(pack(frag(1, 3000, 2000, 1, 1000), frag(1, 3000, 2000, 0, 2000)))
	f.Add(pack(frag(1, 3000, 2000, 0, 2000), frag(1, 3000, 2000, 0, 2000)))
	f.Add(pack(frag(1, 5000, 1024, 0, 1024), frag(2, 5000, 1024, 0, 1024), frag(3, 5000, 1024, 0, 1024)))
	f.Add(pack(frag(9, 0xffffffff, 1024, 0, 1024)))
	const maxMsg, maxPending, maxBytes = 20_000, 3, 30_000
	f.Fuzz(func(t *testing.T, data []byte) {
		r := seal.NewReassembler(seal.Config{MaxMessageSize: maxMsg, MaxPendingMessages: maxPending, MaxReassemblyBytes: maxBytes})
		for len(data) >= 2 {
			n := int(binary.BigEndian.Uint16(data))
			data = data[2:]
			n = min(n, len(data))
			fr := data[:n]
			data = data[n:]
			msg, err := r.Add(fr)
			msgs, bytes := r.Pending()
			if msgs > maxPending || bytes > maxBytes {
				t.Fatalf("reassembly holds %d messages, %d bytes; limits %d, %d", msgs, bytes, maxPending, maxBytes)
			}
			if err != nil {
				return // the session would end here
			}
			if msg != nil && len(fr) >= seal.FragmentHeaderSize {
				if total := binary.BigEndian.Uint32(fr[4:]); uint32(len(msg)) != total {
					t.Fatalf("message of %d bytes, fragments declared %d", len(msg), total)
				}
			}
		}
	})
}

// FuzzSealOpenRoundTrip seals arbitrary messages with arbitrary record
// sizes and checks that they come back exactly.
func FuzzSealOpenRoundTrip(f *testing.F) {
	f.Add([]byte("hello"), uint16(0))
	f.Add(bytes.Repeat([]byte{7}, 5000), uint16(1))
	f.Add(bytes.Repeat([]byte{8}, 70000), uint16(65535))
	f.Fuzz(func(t *testing.T, msg []byte, recordSize uint16) {
		maxRecord := seal.MinRecordForMessages + int(recordSize)
		s, o := sealPair(t, seal.Config{})
		var r seal.Reassembler
		var got [][]byte
		_, err := s.SealMessage(nil, msg, maxRecord, func(rec []byte) error {
			if len(rec) > maxRecord {
				t.Fatalf("record of %d bytes, limit %d", len(rec), maxRecord)
			}
			typ, payload, err := o.Open(nil, rec)
			if err != nil {
				return err
			}
			switch typ {
			case seal.TypeData:
				got = append(got, payload)
			case seal.TypeFragment:
				m, err := r.Add(payload)
				if err != nil {
					return err
				}
				if m != nil {
					got = append(got, m)
				}
			default:
				t.Fatalf("record type %v", typ)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || !bytes.Equal(got[0], msg) {
			t.Fatalf("round trip of %d bytes gave %d messages", len(msg), len(got))
		}
	})
}
