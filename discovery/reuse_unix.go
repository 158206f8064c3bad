//go:build unix && !js

package discovery

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// reuseAddr lets several programs on one host listen on the group's port.
func reuseAddr(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
