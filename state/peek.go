package state

import (
	"fmt"
	"io"
)

// SnapshotRoom reads the room ID from the header of a snapshot written by
// [Replica.Export], checking only the magic: a caller can tell which
// room's replica should import it. [Replica.Import] checks the rest.
func SnapshotRoom(r io.Reader) ([32]byte, error) {
	var hdr [len(snapMagic) + 32]byte
	var rid [32]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil || string(hdr[:len(snapMagic)]) != snapMagic {
		return rid, fmt.Errorf("%w: not a snapshot of a room's state", ErrBadSnapshot)
	}
	copy(rid[:], hdr[len(snapMagic):])
	return rid, nil
}
