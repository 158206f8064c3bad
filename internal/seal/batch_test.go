package seal

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

// batchVectorsFile holds batch payloads and what a receiver makes of
// them (SECURITY.md, "Batches").
const batchVectorsFile = "../../testdata/batch-vectors.json"

type batchVector struct {
	Name     string   `json:"name"`
	Payload  string   `json:"payload"`            // hex
	Messages []string `json:"messages,omitempty"` // hex, when valid
	Error    string   `json:"error,omitempty"`    // a substring of the error, when not
}

func makeBatchVectors() []batchVector {
	enc := func(msgs ...[]byte) []byte {
		var p []byte
		for _, m := range msgs {
			p = AppendBatch(p, m)
		}
		return p
	}
	valid := func(name string, msgs ...[]byte) batchVector {
		v := batchVector{Name: name, Payload: hex.EncodeToString(enc(msgs...))}
		for _, m := range msgs {
			v.Messages = append(v.Messages, hex.EncodeToString(m))
		}
		return v
	}
	invalid := func(name string, p []byte, err string) batchVector {
		return batchVector{Name: name, Payload: hex.EncodeToString(p), Error: err}
	}
	many := make([][]byte, MaxBatchMessages)
	for i := range many {
		many[i] = []byte{byte(i)}
	}
	return []batchVector{
		valid("two messages", []byte("hello"), []byte("world!")),
		valid("an empty message and a byte", []byte{}, []byte{0x2a}),
		valid("256 messages (the most)", many...),
		invalid("one message (too few)", enc([]byte("alone")), "1 messages"),
		invalid("empty payload", nil, "0 messages"),
		invalid("257 messages (too many)", append(enc(many...), 0, 0), "more than 256"),
		invalid("length past the end", append(enc([]byte("ok")), 0, 9, 'x'), "of 9 bytes, 1 left"),
		invalid("one trailing byte", append(enc([]byte("a"), []byte("b")), 7), "trailing byte"),
	}
}

// TestBatchVectors checks the batch vectors against SplitBatch (and that
// this implementation writes them as they are, with -update).
func TestBatchVectors(t *testing.T) {
	want := makeBatchVectors()
	if *update {
		b, _ := json.MarshalIndent(want, "", "  ")
		if err := os.WriteFile(batchVectorsFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(batchVectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var vs []batchVector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) != len(want) {
		t.Fatalf("%d vectors, want %d", len(vs), len(want))
	}
	for _, v := range vs {
		p, err := hex.DecodeString(v.Payload)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		err = SplitBatch(p, func(m []byte) error { got = append(got, hex.EncodeToString(m)); return nil })
		switch {
		case v.Error == "" && (err != nil || strings.Join(got, ",") != strings.Join(v.Messages, ",")):
			t.Errorf("%s: %v, %d messages", v.Name, err, len(got))
		case v.Error != "" && (!errors.Is(err, ErrBadBatch) || !strings.Contains(err.Error(), v.Error) || len(got) != 0):
			t.Errorf("%s: %v (delivered %d), want an error with %q", v.Name, err, len(got), v.Error)
		}
	}
}

// A batch record seals and opens like any record, and a batch too large
// for a record's payload is refused before anything is delivered.
func TestBatchRecordAndLimits(t *testing.T) {
	p := newPair(t, Config{})
	var payload []byte
	for i := range 10 {
		payload = AppendBatch(payload, bytes.Repeat([]byte{byte(i)}, i*100))
	}
	rec := mustSeal(t, p.oSeal, TypeBatch, payload)
	typ, pt, err := p.aOpen.Open(nil, rec)
	if err != nil || typ != TypeBatch {
		t.Fatalf("open: %v %v", typ, err)
	}
	i := 0
	if err := SplitBatch(pt, func(m []byte) error {
		if !bytes.Equal(m, bytes.Repeat([]byte{byte(i)}, i*100)) {
			t.Errorf("message %d differs", i)
		}
		i++
		return nil
	}); err != nil || i != 10 {
		t.Fatalf("split: %v, %d messages", err, i)
	}
	big := AppendBatch(AppendBatch(nil, make([]byte, 40000)), make([]byte, MaxPayload-40000-3))
	if err := SplitBatch(big, func([]byte) error { t.Fatal("delivered"); return nil }); !errors.Is(err, ErrBadBatch) {
		t.Fatalf("a payload over MaxPayload: %v", err)
	}
	stop := errors.New("stop")
	if err := SplitBatch(payload, func([]byte) error { return stop }); err != stop {
		t.Fatalf("each's error: %v", err)
	}
	if n := testing.AllocsPerRun(100, func() { SplitBatch(payload, func([]byte) error { return nil }) }); n != 0 {
		t.Errorf("SplitBatch allocates %v times", n)
	}
}

// FuzzBatch: SplitBatch never panics, delivers either nothing (an error)
// or messages that re-encode to exactly the payload, within the limits.
func FuzzBatch(f *testing.F) {
	for _, v := range makeBatchVectors() {
		p, _ := hex.DecodeString(v.Payload)
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		var again []byte
		n := 0
		err := SplitBatch(p, func(m []byte) error { again = AppendBatch(again, m); n++; return nil })
		if err != nil {
			if n != 0 {
				t.Fatalf("%v after delivering %d messages", err, n)
			}
			return
		}
		if n < MinBatchMessages || n > MaxBatchMessages || len(p) > MaxPayload || !bytes.Equal(again, p) {
			t.Fatalf("accepted %d messages that re-encode to %x, not %x", n, again, p)
		}
	})
}
