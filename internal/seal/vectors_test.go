package seal

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/seal-vectors.json from the implementation")

const vectorsFile = "../../testdata/seal-vectors.json"

type hexBytes []byte

func (h hexBytes) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }
func (h *hexBytes) UnmarshalText(b []byte) error {
	d, err := hex.DecodeString(string(b))
	*h = d
	return err
}

type sealVectors struct {
	Comment     string              `json:"comment"`
	KeySchedule []keyScheduleVector `json:"key_schedule"`
	Rekey       []hexBytes          `json:"rekey_chain"`
	Records     []recordVector      `json:"records"`
}

type keyScheduleVector struct {
	Shared            hexBytes `json:"shared_secret"`
	Transcript        hexBytes `json:"transcript_hash"`
	OffererToAnswerer hexBytes `json:"key_offerer_to_answerer"`
	AnswererToOfferer hexBytes `json:"key_answerer_to_offerer"`
	SessionID         hexBytes `json:"session_id"`
	SafetyCode        string   `json:"safety_code"`
}

type recordVector struct {
	Description string   `json:"description"`
	Key         hexBytes `json:"key"` // the epoch's key
	SenderRole  Role     `json:"sender_role"`
	Type        Type     `json:"type"`
	Epoch       uint32   `json:"epoch"`
	Seq         uint64   `json:"seq"`
	TimestampMs int64    `json:"timestamp_ms"`
	Nonce       hexBytes `json:"nonce"`
	Payload     hexBytes `json:"payload"`
	Record      hexBytes `json:"record"`
}

func seq(n int, start byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

func sealVector(t *testing.T, v recordVector) []byte {
	t.Helper()
	var key [KeySize]byte
	copy(key[:], v.Key)
	ts := time.UnixMilli(v.TimestampMs)
	s := &Sealer{
		cfg:        Config{Now: func() time.Time { return ts }}.withDefaults(),
		dir:        v.SenderRole,
		seq:        v.Seq,
		epochStart: ts,
		rand:       bytes.NewReader(append(bytes.Clone(v.Nonce), make([]byte, len(Sealer{}.randBuf)-NonceSize)...)),
	}
	s.state.init(&key, v.Epoch)
	rec, err := s.Seal(nil, v.Type, v.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func makeVectors(t *testing.T) sealVectors {
	vs := sealVectors{Comment: "sp2p record layer v1 test vectors; see SECURITY.md (Key schedule, Records). All byte strings are hex."}
	for i, in := range []struct{ shared, transcript []byte }{
		{seq(32, 1), seq(32, 0x80)},
		{bytes.Repeat([]byte{0xff}, 32), make([]byte, 32)},
	} {
		var tr [TranscriptSize]byte
		copy(tr[:], in.transcript)
		k, err := DeriveKeys(in.shared, tr, Offerer)
		if err != nil {
			t.Fatalf("vector %d: %v", i, err)
		}
		vs.KeySchedule = append(vs.KeySchedule, keyScheduleVector{
			Shared: in.shared, Transcript: in.transcript,
			OffererToAnswerer: bytes.Clone(k.send[:]), AnswererToOfferer: bytes.Clone(k.recv[:]),
			SessionID: bytes.Clone(k.SessionID[:]), SafetyCode: k.SafetyCode,
		})
	}
	var key [KeySize]byte
	copy(key[:], vs.KeySchedule[0].OffererToAnswerer)
	vs.Rekey = append(vs.Rekey, bytes.Clone(key[:]))
	for range 2 {
		ratchet(&key)
		vs.Rekey = append(vs.Rekey, bytes.Clone(key[:]))
	}
	recs := []recordVector{
		{Description: "first data record, offerer to answerer", Key: vs.Rekey[0], SenderRole: Offerer, Type: TypeData,
			Epoch: 0, Seq: 0, TimestampMs: 1_800_000_000_000, Nonce: seq(24, 0x40), Payload: []byte("hello, sp2p")},
		{Description: "empty key-confirmation record, answerer to offerer", Key: vs.KeySchedule[0].AnswererToOfferer, SenderRole: Answerer, Type: TypeConfirm,
			Epoch: 0, Seq: 0, TimestampMs: 1_800_000_000_123, Nonce: seq(24, 0x60), Payload: nil},
		{Description: "close record in epoch 2, after two rekeys", Key: vs.Rekey[2], SenderRole: Offerer, Type: TypeClose,
			Epoch: 2, Seq: 0x0102030405, TimestampMs: 1_800_000_360_000, Nonce: seq(24, 0xa0), Payload: []byte{}},
		{Description: "fragment record: message id 7, total 3000, chunk 2000, index 1", Key: vs.Rekey[0], SenderRole: Offerer, Type: TypeFragment,
			Epoch: 0, Seq: 41, TimestampMs: 1_800_000_001_000, Nonce: seq(24, 0x10),
			Payload: append(fragment(7, 3000, 2000, 1, 0), bytes.Repeat([]byte{0xab}, 1000)...)},
	}
	for _, r := range recs {
		r.Record = sealVector(t, r)
		vs.Records = append(vs.Records, r)
	}
	return vs
}

func TestVectors(t *testing.T) {
	got := makeVectors(t)
	if *update {
		b, err := json.MarshalIndent(got, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var want sealVectors
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	// Key schedule.
	for i, v := range want.KeySchedule {
		var tr [TranscriptSize]byte
		copy(tr[:], v.Transcript)
		ko, err := DeriveKeys(v.Shared, tr, Offerer)
		if err != nil {
			t.Fatal(err)
		}
		ka, _ := DeriveKeys(v.Shared, tr, Answerer)
		if !bytes.Equal(ko.send[:], v.OffererToAnswerer) || !bytes.Equal(ka.recv[:], v.OffererToAnswerer) ||
			!bytes.Equal(ko.recv[:], v.AnswererToOfferer) || !bytes.Equal(ka.send[:], v.AnswererToOfferer) ||
			!bytes.Equal(ko.SessionID[:], v.SessionID) || ko.SafetyCode != v.SafetyCode {
			t.Errorf("key schedule vector %d does not match", i)
		}
	}
	// Ratchet chain.
	for i := 1; i < len(want.Rekey); i++ {
		var k [KeySize]byte
		copy(k[:], want.Rekey[i-1])
		ratchet(&k)
		if !bytes.Equal(k[:], want.Rekey[i]) {
			t.Errorf("rekey step %d does not match", i)
		}
	}
	// Records: sealing with the fixed nonce gives the exact bytes, and
	// opening them gives the payload back.
	for _, v := range want.Records {
		if rec := sealVector(t, v); !bytes.Equal(rec, v.Record) {
			t.Errorf("%s: sealed\n %x\nwant\n %x", v.Description, rec, v.Record)
		}
		var key [KeySize]byte
		copy(key[:], v.Key)
		o := &Opener{cfg: Config{Now: func() time.Time { return time.UnixMilli(v.TimestampMs) }}.withDefaults(), role: v.SenderRole ^ 1}
		o.cur.init(&key, v.Epoch)
		typ, pt, err := o.Open(nil, v.Record)
		if err != nil || typ != v.Type || !bytes.Equal(pt, v.Payload) {
			t.Errorf("%s: open: %v %v", v.Description, typ, err)
		}
	}
	if len(want.Records) != len(got.Records) || len(want.KeySchedule) != len(got.KeySchedule) {
		t.Error("vector file is out of date: run go test ./seal -run TestVectors -update")
	}
}
