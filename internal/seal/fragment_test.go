package seal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"
)

// sealAll returns the records SealMessage produces for msg.
func sealAll(t testing.TB, s *Sealer, msg []byte, maxRecord int) [][]byte {
	t.Helper()
	var recs [][]byte
	_, err := s.SealMessage(nil, msg, maxRecord, func(r []byte) error {
		if len(r) > maxRecord || len(r) > MaxRecordSize {
			t.Fatalf("record of %d bytes exceeds maxRecord %d", len(r), maxRecord)
		}
		recs = append(recs, bytes.Clone(r))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// receive opens records and reassembles messages.
func receive(t testing.TB, o *Opener, r *Reassembler, recs [][]byte) [][]byte {
	t.Helper()
	var msgs [][]byte
	for _, rec := range recs {
		typ, payload, err := o.Open(nil, rec)
		if err != nil {
			t.Fatal(err)
		}
		switch typ {
		case TypeData:
			msgs = append(msgs, payload)
		case TypeFragment:
			m, err := r.Add(payload)
			if err != nil {
				t.Fatal(err)
			}
			if m != nil {
				msgs = append(msgs, m)
			}
		default:
			t.Fatalf("unexpected record type %v", typ)
		}
	}
	return msgs
}

// Message sizes around the record and chunk boundaries, crossed with record
// sizes, in order and shuffled.
func TestFragmentationBoundaries(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	for _, maxRecord := range []int{MinRecordForMessages, 16 << 10, MaxRecordSize} {
		payloadMax := maxRecord - Overhead
		chunk := payloadMax - FragmentHeaderSize
		sizes := []int{0, 1, payloadMax - 1, payloadMax, payloadMax + 1, 2 * chunk, 2*chunk + 1, 3*chunk - 1, 200_001}
		for _, n := range sizes {
			for _, shuffle := range []bool{false, true} {
				p := newPair(t, Config{})
				msg := make([]byte, n)
				for i := range msg {
					msg[i] = byte(rng.Uint32())
				}
				recs := sealAll(t, p.oSeal, msg, maxRecord)
				wantRecs := 1
				if n > payloadMax {
					wantRecs = (n + chunk - 1) / chunk
				}
				if len(recs) != wantRecs {
					t.Fatalf("maxRecord %d, %d bytes: %d records, want %d", maxRecord, n, len(recs), wantRecs)
				}
				if shuffle {
					rng.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
				}
				var r Reassembler
				got := receive(t, p.aOpen, &r, recs)
				if len(got) != 1 || !bytes.Equal(got[0], msg) {
					t.Fatalf("maxRecord %d, %d bytes, shuffled %v: message not reassembled", maxRecord, n, shuffle)
				}
				if m, b := r.Pending(); m != 0 || b != 0 {
					t.Fatalf("reassembly memory left: %d messages, %d bytes", m, b)
				}
			}
		}
	}
}

// Interleaved fragments of several messages come out whole.
func TestFragmentationInterleaved(t *testing.T) {
	t.Parallel()
	p := newPair(t, Config{})
	var all [][][]byte
	var msgs [][]byte
	for i := range 3 {
		m := bytes.Repeat([]byte{byte(i + 1)}, 50_000+i)
		msgs = append(msgs, m)
		all = append(all, sealAll(t, p.oSeal, m, MinRecordForMessages))
	}
	var mixed [][]byte
	for i := 0; ; i++ {
		added := false
		for _, recs := range all {
			if i < len(recs) {
				mixed = append(mixed, recs[i])
				added = true
			}
		}
		if !added {
			break
		}
	}
	var r Reassembler
	got := receive(t, p.aOpen, &r, mixed)
	if len(got) != 3 {
		t.Fatalf("%d messages", len(got))
	}
	for _, g := range got {
		if !bytes.Equal(g, msgs[g[0]-1]) {
			t.Fatal("interleaved message corrupted")
		}
	}
}

func fragment(id, total, chunk, index uint32, n int) []byte {
	b := make([]byte, FragmentHeaderSize+n)
	binary.BigEndian.PutUint32(b[0:], id)
	binary.BigEndian.PutUint32(b[4:], total)
	binary.BigEndian.PutUint32(b[8:], chunk)
	binary.BigEndian.PutUint32(b[12:], index)
	return b
}

func TestReassemblyLimits(t *testing.T) {
	t.Parallel()
	cfg := Config{MaxMessageSize: 100_000, MaxPendingMessages: 2, MaxReassemblyBytes: 150_000}
	cases := []struct {
		name  string
		frags [][]byte
		want  error
	}{
		{"short", [][]byte{make([]byte, 15)}, ErrBadFragment},
		{"too large", [][]byte{fragment(1, 100_001, 2000, 0, 2000)}, ErrMessageTooLarge},
		{"huge total", [][]byte{fragment(1, 0xffffffff, 60000, 0, 60000)}, ErrMessageTooLarge},
		{"tiny chunk", [][]byte{fragment(1, 10_000, 1023, 0, 1023)}, ErrBadFragment},
		{"chunk too big", [][]byte{fragment(1, 100_000, MaxPayload, 0, 10)}, ErrBadFragment},
		{"single-record message", [][]byte{fragment(1, 2000, 2000, 0, 2000)}, ErrBadFragment},
		{"index out of range", [][]byte{fragment(1, 5000, 2000, 3, 2000)}, ErrBadFragment},
		{"wrong length", [][]byte{fragment(1, 5000, 2000, 0, 1999)}, ErrBadFragment},
		{"wrong last length", [][]byte{fragment(1, 5000, 2000, 2, 2000)}, ErrBadFragment},
		{"duplicate", [][]byte{fragment(1, 5000, 2000, 0, 2000), fragment(1, 5000, 2000, 0, 2000)}, ErrBadFragment},
		{"changed total", [][]byte{fragment(1, 5000, 2000, 0, 2000), fragment(1, 6000, 2000, 1, 2000)}, ErrBadFragment},
		{"changed chunk", [][]byte{fragment(1, 6000, 2000, 0, 2000), fragment(1, 6000, 3000, 1, 3000)}, ErrBadFragment},
		{"too many pending", [][]byte{fragment(1, 5000, 2000, 0, 2000), fragment(2, 5000, 2000, 0, 2000), fragment(3, 5000, 2000, 0, 2000)}, ErrTooManyPending},
		{"memory", [][]byte{fragment(1, 100_000, 2000, 0, 2000), fragment(2, 60_000, 2000, 0, 2000)}, ErrReassemblyMemory},
	}
	for _, c := range cases {
		r := NewReassembler(cfg)
		var err error
		for _, f := range c.frags {
			if _, err = r.Add(f); err != nil {
				break
			}
		}
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func TestSealMessageTooLarge(t *testing.T) {
	t.Parallel()
	p := newPair(t, Config{MaxMessageSize: 1000})
	_, err := p.oSeal.SealMessage(nil, make([]byte, 1001), MaxRecordSize, func([]byte) error { return nil })
	if !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("%v", err)
	}
}
