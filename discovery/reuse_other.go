//go:build !unix && !js

package discovery

import "syscall"

// reuseAddr does nothing here.
func reuseAddr(network, address string, c syscall.RawConn) error { return nil }
