package seal

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// A batch record (TypeBatch) carries several small application messages
// in one record, so that a sender with a backlog of them seals and sends
// one record (one message of the transport) instead of one each. Its
// payload is the messages back to back, each as a 2-byte big-endian
// length and that many bytes:
//
//	len₁ (2) | msg₁ (len₁) | len₂ (2) | msg₂ (len₂) | …
//
// with MinBatchMessages to MaxBatchMessages messages (both inclusive),
// ending exactly after the last one. The payload limit (MaxPayload)
// bounds the rest.

// Batch limits, inclusive.
const (
	MinBatchMessages = 2   // a single message travels as a TypeData record
	MaxBatchMessages = 256 // messages in one batch record
)

// BatchEntryOverhead is what one message adds to a batch beyond its bytes.
const BatchEntryOverhead = 2

// ErrBadBatch is a batch payload that breaks the format.
var ErrBadBatch = errors.New("seal: malformed batch")

// AppendBatch appends msg as the next message of a batch payload to dst.
// The caller keeps the payload within MaxPayload and the count within
// MaxBatchMessages; a message longer than 65,535 bytes cannot be batched.
func AppendBatch(dst, msg []byte) []byte {
	if len(msg) > 0xffff {
		panic("seal: message too long for a batch")
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(msg)))
	return append(dst, msg...)
}

// SplitBatch checks a batch payload completely, then calls each with its
// messages in order (sub-slices of p: copy what is kept). A payload that
// breaks the format (ErrBadBatch: a length past the end, trailing bytes,
// fewer than MinBatchMessages or more than MaxBatchMessages messages)
// delivers nothing. It does not allocate.
func SplitBatch(p []byte, each func(msg []byte) error) error {
	n, err := countBatch(p)
	if err != nil {
		return err
	}
	for range n {
		l := int(binary.BigEndian.Uint16(p))
		if err := each(p[2 : 2+l]); err != nil {
			return err
		}
		p = p[2+l:]
	}
	return nil
}

// countBatch validates p and returns its number of messages; it stops at
// the first problem, and after MaxBatchMessages+1 entries at the latest.
func countBatch(p []byte) (int, error) {
	if len(p) > MaxPayload {
		return 0, fmt.Errorf("%w: a payload of %d bytes (at most %d)", ErrBadBatch, len(p), MaxPayload)
	}
	n := 0
	for len(p) > 0 {
		if n == MaxBatchMessages {
			return 0, fmt.Errorf("%w: more than %d messages", ErrBadBatch, MaxBatchMessages)
		}
		if len(p) < 2 {
			return 0, fmt.Errorf("%w: %d trailing byte after message %d", ErrBadBatch, len(p), n)
		}
		l := int(binary.BigEndian.Uint16(p))
		if l > len(p)-2 {
			return 0, fmt.Errorf("%w: message %d of %d bytes, %d left", ErrBadBatch, n, l, len(p)-2)
		}
		p = p[2+l:]
		n++
	}
	if n < MinBatchMessages {
		return 0, fmt.Errorf("%w: %d messages (at least %d)", ErrBadBatch, n, MinBatchMessages)
	}
	return n, nil
}
