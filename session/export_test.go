package session

import (
	"bytes"
	"testing"
)

// Both peers export the same secret; another label, or another session,
// gives another; the bounds are checked.
func TestExportSecret(t *testing.T) {
	t.Parallel()
	p := connect(t, mem(), mem())
	a, err := p.offerer.ExportSecret("lan pairing", 32)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := p.answerer.ExportSecret("lan pairing", 32)
	if !bytes.Equal(a, b) || len(a) != 32 {
		t.Fatalf("the peers export %x and %x", a, b)
	}
	other, _ := p.offerer.ExportSecret("another label", 32)
	if bytes.Equal(a, other) {
		t.Fatal("two labels give the same secret")
	}
	q := connect(t, mem(), mem())
	c, _ := q.offerer.ExportSecret("lan pairing", 32)
	if bytes.Equal(a, c) {
		t.Fatal("two sessions give the same secret")
	}
	for _, n := range []int{0, 256} {
		if _, err := p.offerer.ExportSecret("x", n); err == nil {
			t.Errorf("%d bytes exported", n)
		}
	}
	if _, err := p.offerer.ExportSecret("", 32); err == nil {
		t.Error("an empty label was accepted")
	}
}
