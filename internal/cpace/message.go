package cpace

import "fmt"

// decodeMessage parses a peer's message, lv_cat(Y, AD), strictly: the
// total length is checked first against MinMessageSize and MaxMessageSize,
// then Y's length byte (exactly 0x20), then AD's LEB128 length (minimal, at
// most two bytes, at most MaxADSize), then that exactly the announced AD
// bytes follow. The returned slices alias msg. Y is not decoded here.
func decodeMessage(msg []byte) (Y, ad []byte, err error) {
	if len(msg) < MinMessageSize || len(msg) > MaxMessageSize {
		return nil, nil, fmt.Errorf("%w: %d bytes, want %d to %d", ErrInvalidPeerMessage, len(msg), MinMessageSize, MaxMessageSize)
	}
	if msg[0] != ElementSize {
		return nil, nil, fmt.Errorf("%w: element length byte is 0x%02x, want 0x%02x", ErrInvalidPeerMessage, msg[0], ElementSize)
	}
	Y = msg[1 : 1+ElementSize]
	rest := msg[1+ElementSize:]
	n, used, err := readADLen(rest)
	if err != nil {
		return nil, nil, err
	}
	rest = rest[used:]
	if len(rest) != n {
		return nil, nil, fmt.Errorf("%w: associated data announced as %d bytes, %d follow", ErrInvalidPeerMessage, n, len(rest))
	}
	return Y, rest, nil
}

// readADLen reads the minimal LEB128 length of AD from the start of b
// (which has at least one byte) and returns it with the number of bytes it
// took. Two bytes encode at most 16383, so anything longer already exceeds
// MaxADSize.
func readADLen(b []byte) (n, used int, err error) {
	if b[0] < 0x80 {
		return int(b[0]), 1, nil
	}
	if len(b) < 2 {
		return 0, 0, fmt.Errorf("%w: associated data length is cut short", ErrInvalidPeerMessage)
	}
	if b[1] >= 0x80 {
		return 0, 0, fmt.Errorf("%w: associated data length takes more than 2 bytes (limit %d)", ErrInvalidPeerMessage, MaxADSize)
	}
	if b[1] == 0 {
		return 0, 0, fmt.Errorf("%w: associated data length is not minimally encoded", ErrInvalidPeerMessage)
	}
	n = int(b[0]&0x7f) | int(b[1])<<7
	if n > MaxADSize {
		return 0, 0, fmt.Errorf("%w: associated data is %d bytes, more than %d", ErrInvalidPeerMessage, n, MaxADSize)
	}
	return n, 2, nil
}
