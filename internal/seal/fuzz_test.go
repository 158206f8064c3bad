package seal

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"
	"time"
)

// FuzzOpenAuthenticated reaches the code after decryption, which random
// bytes never do (FuzzOpen's records do not authenticate): it seals
// fuzzer-chosen headers (type, direction, epoch, sequence number,
// timestamp) and payloads under the real keys of a fixed session, and
// feeds them to an Opener and the fragments among them to a Reassembler.
// Invariants: no panic; an accepted record returns its type and exact
// payload; a rejected one changes nothing but one counter; the same record
// never opens twice; the epoch never goes back; reassembly stays within
// its limits and a completed message within the message size limit.
//
// The input is a script of records, each: type byte, flags byte (bit 0:
// the receiver's own direction; bits 1-2: epoch current, next, previous,
// current+2; bit 3: replay the previous record instead), sequence delta
// (int16), timestamp offset in seconds (int16), payload length / 16 (one
// byte), then the payload bytes (as many as the input still has).
func FuzzOpenAuthenticated(f *testing.F) {
	f.Add(script(op{typ: TypeData, payload: []byte("hello")}, op{typ: TypeData, seq: 1, payload: []byte("again")}, op{flags: 8}))
	f.Add(script(op{typ: TypePing, flags: 2, payload: make([]byte, 8)}, op{typ: TypeData, flags: 6, seq: 5}, op{typ: TypeClose, ts: -200}))
	// A message of 2512 bytes in 1024-byte chunks, the last fragment first.
	msg := bytes.Repeat([]byte("fragmented "), 230)[:2512]
	frag := func(i int) []byte {
		h := make([]byte, FragmentHeaderSize)
		binary.BigEndian.PutUint32(h[0:], 7)
		binary.BigEndian.PutUint32(h[4:], uint32(len(msg)))
		binary.BigEndian.PutUint32(h[8:], 1024)
		binary.BigEndian.PutUint32(h[12:], uint32(i))
		return append(h, msg[i*1024:min((i+1)*1024, len(msg))]...)
	}
	f.Add(script(op{typ: TypeFragment, seq: 2, payload: frag(2)}, op{typ: TypeFragment, seq: -2, payload: frag(0)}, op{typ: TypeFragment, seq: 1, payload: frag(1)}))
	f.Fuzz(fuzzOpenAuthenticated)
}

func fuzzOpenAuthenticated(t *testing.T, in []byte) {
	{
		now := time.Unix(1_800_000_000, 0)
		cfg := Config{Now: func() time.Time { return now }, MaxMessageSize: 64 << 10, MaxReassemblyBytes: 96 << 10, MaxPendingMessages: 2}
		shared := bytes.Repeat([]byte{0x5a}, 32)
		keys, err := DeriveKeys(shared, sha256.Sum256([]byte("fuzz")), Answerer)
		if err != nil {
			t.Fatal(err)
		}
		_, o := New(keys, cfg)
		reasm := NewReassembler(cfg)
		epochKeys := [4][KeySize]byte{keys.recv} // the offerer's sending keys, epochs 0..3
		for i := 1; i < 4; i++ {
			epochKeys[i] = epochKeys[i-1]
			ratchet(&epochKeys[i])
		}
		var seq uint64 = 1 << 20
		var prev []byte
		for len(in) >= 7 {
			typ, flags := in[0], in[1]
			seq += uint64(int64(int16(binary.BigEndian.Uint16(in[2:]))))
			tsOff := time.Duration(int16(binary.BigEndian.Uint16(in[4:]))) * time.Second
			n := min(int(in[6])*16, len(in)-7)
			payload := in[7 : 7+n]
			in = in[7+n:]

			rec := prev
			if flags&8 == 0 || prev == nil {
				dir := Offerer
				if flags&1 != 0 {
					dir = Answerer
				}
				epoch := []int{0, 1, -1, 2}[(flags>>1)&3] + int(o.Epoch())
				var st aeadState
				key := epochKeys[max(0, min(epoch, 3))]
				st.init(&key, uint32(max(epoch, 0)))
				rec = appendHeader(nil, Type(typ), dir, uint32(max(epoch, 0)), seq, uint64(now.Add(tsOff).UnixMilli()))
				nonce := bytes.Repeat([]byte{byte(seq)}, NonceSize)
				rec = append(rec, nonce...)
				rec = st.aead.Seal(rec, nonce, payload, rec[:HeaderSize])
			}
			prev = rec

			before, epochBefore := rejections(o.Stats()), o.Epoch()
			gotTyp, pt, err := o.Open([]byte("dst"), rec)
			if o.Epoch() < epochBefore {
				t.Fatalf("epoch went back from %d to %d", epochBefore, o.Epoch())
			}
			if err != nil {
				if !bytes.Equal(pt, []byte("dst")) {
					t.Fatalf("rejected record changed dst")
				}
				if rejections(o.Stats()) != before+1 {
					t.Fatalf("a rejection (%v) counted %d times", err, rejections(o.Stats())-before)
				}
				if o.Epoch() != epochBefore {
					t.Fatalf("a rejected record (%v) moved the epoch", err)
				}
				continue
			}
			if gotTyp != Type(typ) || !bytes.Equal(pt[3:], payload) {
				t.Fatalf("accepted record: type %v payload %d bytes, sealed %d, %d bytes", gotTyp, len(pt)-3, typ, len(payload))
			}
			if _, _, err := o.Open(nil, rec); err == nil {
				t.Fatal("the same record opened twice")
			}
			if gotTyp != TypeFragment {
				continue
			}
			m, err := reasm.Add(pt[3:])
			if msgs, b := reasm.Pending(); msgs > cfg.MaxPendingMessages || b > cfg.MaxReassemblyBytes {
				t.Fatalf("reassembly holds %d messages, %d bytes", msgs, b)
			}
			if err != nil {
				if !errors.Is(err, ErrBadFragment) && !errors.Is(err, ErrMessageTooLarge) && !errors.Is(err, ErrTooManyPending) && !errors.Is(err, ErrReassemblyMemory) {
					t.Fatalf("reassembly error without a sentinel: %v", err)
				}
				continue
			}
			if len(m) > cfg.MaxMessageSize {
				t.Fatalf("reassembled %d bytes, limit %d", len(m), cfg.MaxMessageSize)
			}
		}
	}
}

func rejections(s Stats) uint64 {
	return s.Malformed + s.Reflected + s.BadEpoch + s.AuthFailed + s.Replayed + s.Stale + s.Future
}

type op struct {
	typ     Type
	flags   byte
	seq     int16
	ts      int16
	payload []byte
}

// script encodes ops in FuzzOpenAuthenticated's input format (payloads
// padded to a multiple of 16 bytes).
func script(ops ...op) []byte {
	var b []byte
	for _, o := range ops {
		p := o.payload
		if pad := len(p) % 16; pad != 0 {
			p = append(bytes.Clone(p), make([]byte, 16-pad)...)
		}
		b = append(b, byte(o.typ), o.flags)
		b = binary.BigEndian.AppendUint16(b, uint16(o.seq))
		b = binary.BigEndian.AppendUint16(b, uint16(o.ts))
		b = append(b, byte(len(p)/16))
		b = append(b, p...)
	}
	return b
}
