package state

import (
	"fmt"
	"testing"
)

// BenchmarkOpCreate signs a new op (a map set) and takes it in; beside it,
// BenchmarkOpVerify checks one op as a receiver does.
func BenchmarkOpCreate(b *testing.B) {
	c := newCluster(b, 1)
	b.ReportAllocs()
	for b.Loop() {
		c.tick()
		if _, err := c.reps[0].Set("key", []byte("a value of some twenty bytes")); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpVerify is a receiver's cost per op: decode, checks, signature,
// append (the raw baseline is BenchmarkOpDecode, the same without the
// signature check).
func BenchmarkOpVerify(b *testing.B) {
	c := newCluster(b, 2)
	ops := makeOps(b, c, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for _, op := range ops {
		wire := op.Encode()
		d, err := DecodeOp(wire)
		if err != nil {
			b.Fatal(err)
		}
		if _, errs := c.reps[1].Take([]*Op{d}); errs != nil {
			b.Fatal(errs)
		}
	}
}

// BenchmarkOpDecode decodes an op's wire form (no signature check).
func BenchmarkOpDecode(b *testing.B) {
	c := newCluster(b, 1)
	wire := makeOps(b, c, 1)[0].Encode()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeOp(wire); err != nil {
			b.Fatal(err)
		}
	}
}

func makeOps(b *testing.B, c *cluster, n int) []*Op {
	b.Helper()
	ops := make([]*Op, 0, n)
	for i := range n {
		c.tick()
		op, err := c.reps[0].Set(fmt.Sprintf("key%d", i%100), []byte("a value of some twenty bytes"))
		if err != nil {
			b.Fatal(err)
		}
		ops = append(ops, op)
	}
	return ops
}

// BenchmarkSync syncs a log of n ops (map sets and chat lines from four
// authors) to a new member over a lossless link with the default budget,
// and reports the bytes on the wire against the ops' own size.
func BenchmarkSync(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			c := newCluster(b, 5)
			size := 0
			var others []*Op
			for i := range n {
				if i%16 == 0 {
					c.tick()
				}
				r := c.reps[i%4]
				var op *Op
				var err error
				if i%2 == 0 {
					op, err = r.Set(fmt.Sprintf("k%d", i%500), []byte("value"))
				} else {
					op, err = r.Chat("a line of chat of about forty bytes, ok")
				}
				if err != nil {
					b.Fatal(err)
				}
				size += op.Size()
				if i%4 != 0 {
					others = append(others, op)
				}
			}
			src := c.reps[0]
			if _, errs := src.Take(others); errs != nil {
				b.Fatal(errs)
			}
			b.ResetTimer()
			wire := 0
			for b.Loop() {
				fresh, _ := New(Config{Room: testRoom, Self: c.ids[4], Members: c.mem, Now: c.clock.Now, Logger: quiet})
				l := connect(src, fresh, Budget{})
				l.pump(b, nil, 0)
				if fresh.Ops() != n {
					b.Fatalf("%d of %d ops synced", fresh.Ops(), n)
				}
				wire = l.bytesOnWire
			}
			b.ReportMetric(float64(wire), "wire-bytes")
			b.ReportMetric(float64(size), "op-bytes")
			b.ReportMetric(float64(wire)/float64(size), "wire/op-bytes")
		})
	}
}

// BenchmarkLiveUpdate is the steady-state cost of one op: made by one
// member, sent over an open link, taken in by the other.
func BenchmarkLiveUpdate(b *testing.B) {
	c := newCluster(b, 2)
	l := connect(c.reps[0], c.reps[1], Budget{})
	l.pump(b, nil, 0)
	b.ReportAllocs()
	for b.Loop() {
		c.tick()
		if _, err := c.reps[0].Chat("a line of chat"); err != nil {
			b.Fatal(err)
		}
		l.pump(b, nil, 0)
	}
	b.ReportMetric(float64(l.bytesOnWire)/float64(b.N), "wire-bytes/op")
}
