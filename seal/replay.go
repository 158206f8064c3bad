package seal

// replayFilter is the sliding-window replay filter of RFC 6479, as in
// wireguard-go's replay package: a ring of 64-bit blocks, so that moving the
// window forward clears whole blocks instead of shifting bits. It accepts any
// sequence number newer than the newest seen, and older ones inside the
// window that were not seen before. The zero value is an empty filter ready
// to use.
type replayFilter struct {
	last uint64
	ring [replayRingBlocks]uint64
}

const (
	replayBlockBits  = 64
	replayRingBlocks = 128
	// ReplayWindow is how far behind the newest record a record may arrive
	// and still be accepted (if not seen before): 8128 records.
	ReplayWindow = (replayRingBlocks - 1) * replayBlockBits
)

// check reports whether seq is new and inside the window, and records it.
// It must be called only for records that authenticated.
func (f *replayFilter) check(seq uint64) bool {
	block := seq / replayBlockBits
	if seq > f.last { // move the window forward
		current := f.last / replayBlockBits
		diff := min(block-current, replayRingBlocks)
		for i := current + 1; i <= current+diff; i++ {
			f.ring[i%replayRingBlocks] = 0
		}
		f.last = seq
	} else if f.last-seq > ReplayWindow { // too old
		return false
	}
	index := block % replayRingBlocks
	bit := uint64(1) << (seq % replayBlockBits)
	old := f.ring[index]
	f.ring[index] = old | bit
	return old&bit == 0
}
