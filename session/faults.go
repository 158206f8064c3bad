package session

import (
	"math/rand/v2"
	"sync/atomic"
)

// netFaults is a test's control over the network under a session.
type netFaults struct {
	// cut drops every datagram, in and out, while true (an outage).
	cut atomic.Bool
	// lossPermille drops that share of outgoing datagrams at random.
	lossPermille atomic.Uint32
}

// drop reports whether an outgoing datagram is lost.
func (f *netFaults) drop() bool {
	if f.cut.Load() {
		return true
	}
	l := f.lossPermille.Load()
	return l > 0 && rand.Uint32N(1000) < l
}
