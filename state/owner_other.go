//go:build !(unix || js)

package state

import "io/fs"

// checkOwner checks nothing where files have no Unix owner.
func checkOwner(string, fs.FileInfo) error { return nil }
