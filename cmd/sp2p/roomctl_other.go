//go:build !linux

package main

import "net"

// sameUser relies on the rooms directory's permissions (0700) where the
// peer's credentials are not read.
func sameUser(net.Conn) error { return nil }
