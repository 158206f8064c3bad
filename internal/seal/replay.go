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
	// and still be accepted (if not seen before): a record with sequence
	// number s is in the window when newest-s <= 8128, so the window holds
	// 8129 sequence numbers counting the newest.
	ReplayWindow = (replayRingBlocks - 1) * replayBlockBits
)

// fresh reports whether seq is new and inside the window, without
// recording it: a record is marked only once every check has passed, so a
// record that is rejected later (stale, future) leaves the window as it was.
// It must be called only for records that authenticated.
func (f *replayFilter) fresh(seq uint64) bool {
	if seq > f.last {
		return true
	}
	if f.last-seq > ReplayWindow { // too old
		return false
	}
	return f.ring[(seq/replayBlockBits)%replayRingBlocks]&(uint64(1)<<(seq%replayBlockBits)) == 0
}

// mark records seq as seen, moving the window forward when seq is the
// newest yet. Call it only after fresh(seq) and every other check passed.
func (f *replayFilter) mark(seq uint64) {
	block := seq / replayBlockBits
	if seq > f.last { // move the window forward
		current := f.last / replayBlockBits
		diff := min(block-current, replayRingBlocks)
		for i := current + 1; i <= current+diff; i++ {
			f.ring[i%replayRingBlocks] = 0
		}
		f.last = seq
	}
	f.ring[block%replayRingBlocks] |= uint64(1) << (seq % replayBlockBits)
}
