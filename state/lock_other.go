//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package state

import "os"

// lockFile does nothing where flock(2) is missing (the browser build has
// one process per page; elsewhere, run one process per room).
func lockFile(*os.File) error { return nil }
