package state

import "testing"

// TestDocumentedLimits pins the limits SECURITY.md states in numbers.
func TestDocumentedLimits(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"minOp", minOp, 216},
		{"MaxOp", MaxOp, 66_007},
		{"MaxSigned", MaxSigned, 406},
		{"MaxTags", MaxTags, 2048},
		{"MaxAckEntries", MaxAckEntries, 1638},
		{"maxRecord", maxRecord, 132_023},
		{"MaxFrame", MaxFrame, 196_608},
		{"MaxAuthors", MaxAuthors, 2048},
		{"HELLO of MaxAuthors entries fits a frame", 1 + 32 + 2 + MaxAuthors*entrySize, 147_491},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, SECURITY.md says %d", c.name, c.got, c.want)
		}
	}
	if 1+32+2+MaxAuthors*entrySize > MaxFrame || 1+4+4+2*MaxOp > MaxFrame {
		t.Error("a full HELLO or EVIDENCE frame does not fit MaxFrame")
	}
}
