//go:build !js

package session

import (
	"sync"

	pionnet "github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
)

// processNet is the liveNet all anchors of the process share: each would
// otherwise keep its own copy of the last interface list (about 7 KiB,
// with the netlink dump it was parsed from, per session).
var processNet = sync.OnceValues(func() (*liveNet, error) {
	sn, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	return &liveNet{Net: sn}, nil
})

// liveNet is pion's standard network whose interface list is read again
// at every call: stdnet lists the interfaces once, when made, and the
// anchor's mux lives across address changes.
type liveNet struct {
	*stdnet.Net
	mu sync.Mutex
}

// Interfaces lists the host's interfaces and their current addresses.
func (n *liveNet) Interfaces() ([]*pionnet.Interface, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.Net.UpdateInterfaces(); err != nil {
		return nil, err
	}
	return n.Net.Interfaces()
}
